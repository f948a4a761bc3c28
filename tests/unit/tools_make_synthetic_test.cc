// headroom-make-synthetic: Hugging Face sharded output in each dtype, the
// same values in both formats, named shapes, and its refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "runtime/weights/hf_checkpoint.h"
#include "runtime/weights/llama2c_checkpoint.h"
#include "tests/test_support.h"
#include "tests/tool_runner.h"
#include "tools/synthetic_weights.h"

namespace headroom {
namespace {

using ::headroom::testing::BinaryPath;
using ::headroom::testing::RunTool;
using ::testing::HasSubstr;

const char kSmall[] =
    " --dim 64 --hidden 96 --layers 2 --heads 4 --kv-heads 2 --vocab 40 "
    "--seq-len 32 --seed 7";

TEST(MakeSyntheticTest, WritesShardedHuggingFaceCheckpointsInEachDtype) {
  const std::string dir = ::headroom::testing::MakeTempDir("synthetic");
  const std::string tool = BinaryPath("tools/headroom-make-synthetic");
  auto f32 = RunTool(tool + " --out " + dir + "/llama2c.bin" + kSmall);
  ASSERT_EQ(f32.exit_code, 0) << f32.output;
  auto reference = runtime::LoadLlama2cCheckpoint(dir + "/llama2c.bin");
  ASSERT_TRUE(reference.ok()) << reference.status();
  const runtime::ModelWeights& ref = *reference;

  // 21 KiB shards: the 2-layer model spans several.
  auto hf = RunTool(tool + " --out " + dir + "/hf --format hf --dtype bf16 " +
                    "--shard-gib 0.00002" + kSmall);
  ASSERT_EQ(hf.exit_code, 0) << hf.output;
  EXPECT_THAT(hf.output, HasSubstr("(hf, bf16)"));
  EXPECT_TRUE(
      std::filesystem::exists(dir + "/hf/model.safetensors.index.json"));
  int shards = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/hf")) {
    shards += entry.path().extension() == ".safetensors";
  }
  EXPECT_GE(shards, 4) << hf.output;  // 126 KiB of tensors in 21 KiB shards
  auto loaded = runtime::LoadHfCheckpoint(dir + "/hf");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.n_kv_heads, 2);
  EXPECT_EQ(loaded->DtypeSummary(), "bf16");
  // Same seed, same values: the bf16 rounding of the llama2.c file's
  // (llama2.c q/k rows are in its own RoPE pairing, so compare the others).
  const std::vector<float> want = ref.layers[1].w2.ToFloat();
  const std::vector<float> got = loaded->layers[1].w2.ToFloat();
  ASSERT_EQ(want.size(), got.size());
  double sum = 0, sum_sq = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i],
              runtime::BFloat16ToFloat(runtime::FloatToBFloat16(want[i])))
        << i;
    sum += want[i];
    sum_sq += double{want[i]} * want[i];
  }
  // Uniform weights of standard deviation 0.02 around 0.
  const double n = static_cast<double>(want.size());
  EXPECT_NEAR(sum / n, 0.0, 0.002);
  EXPECT_NEAR(std::sqrt(sum_sq / n), 0.02, 0.002);
  EXPECT_EQ(loaded->layers[0].rms_att, std::vector<float>(64, 1.0f));
  // A different seed gives different weights.
  auto other =
      RunTool(tool + " --out " + dir + "/other.bin" + kSmall + " --seed 8");
  ASSERT_EQ(other.exit_code, 0);
  auto other_w = runtime::LoadLlama2cCheckpoint(dir + "/other.bin");
  EXPECT_NE(other_w->layers[1].w2.ToFloat(), want);
}

TEST(MakeSyntheticTest, NamedShapesAreThePublishedDimensions) {
  auto s = tools::SyntheticShape("llama2-7b");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->dim, 4096);
  EXPECT_EQ(s->hidden_dim, 11008);
  EXPECT_EQ(s->n_layers, 32);
  EXPECT_EQ(s->n_heads, 32);
  EXPECT_EQ(s->n_kv_heads, 32);
  EXPECT_EQ(s->vocab_size, 32000);
  EXPECT_FALSE(s->tied_embeddings);
  // LLaMA-2-7B has 6,738,415,616 parameters.
  EXPECT_EQ(tools::SyntheticParameterCount(*s), 6738415616);
  auto l3 = tools::SyntheticShape("llama3-8b");
  ASSERT_TRUE(l3.ok());
  EXPECT_EQ(tools::SyntheticParameterCount(*l3), 8030261248);  // LLaMA-3-8B
  // The other architectures' counts include their biases and norms:
  // Qwen2.5-7B 7,615,616,512 (q/k/v biases), Qwen3-8B 8,190,735,360 (q/k
  // norms), Mistral-7B-v0.1 7,241,732,096; LLaMA 3.1 8B as LLaMA 3.
  const std::pair<const char*, int64_t> published[] = {
      {"qwen2.5-7b", 7615616512},
      {"qwen3-8b", 8190735360},
      {"mistral-7b", 7241732096},
      {"llama3.1-8b", 8030261248}};
  for (const auto& [name, count] : published) {
    auto shape = tools::SyntheticShape(name);
    ASSERT_TRUE(shape.ok()) << name;
    EXPECT_EQ(tools::SyntheticParameterCount(*shape), count) << name;
  }
  EXPECT_TRUE(tools::SyntheticShape("qwen2.5-7b")->qkv_bias);
  EXPECT_TRUE(tools::SyntheticShape("qwen3-8b")->qk_norm);
  EXPECT_EQ(tools::SyntheticShape("mistral-7b")->sliding_window, 4096);
  EXPECT_EQ(tools::SyntheticShape("llama3.1-8b")->rope_scaling.type,
            runtime::RopeScaling::Type::kLlama3);
  EXPECT_THAT(tools::SyntheticShape("gpt2").status().message(),
              HasSubstr("unknown shape \"gpt2\""));
}

// Each architecture as a Hugging Face directory: config.json names it, its
// biases and norms are written and read back, and the model runs.
TEST(MakeSyntheticTest, WritesEachArchitectureAndItLoads) {
  const std::string dir = ::headroom::testing::MakeTempDir("synthetic-arch");
  const std::string tool = BinaryPath("tools/headroom-make-synthetic");
  const std::pair<const char*, const char*> archs[] = {
      {"llama-bias", "LlamaForCausalLM"},
      {"mistral", "MistralForCausalLM"},
      {"qwen2", "Qwen2ForCausalLM"},
      {"qwen3", "Qwen3ForCausalLM"}};
  for (const auto& [arch, name] : archs) {
    const std::string out = dir + "/" + arch;
    auto run = RunTool(tool + " --out " + out + " --format hf --arch " + arch +
                       " --sliding-window 8" + kSmall);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_THAT(::headroom::testing::ReadTextFile(out + "/config.json"),
                HasSubstr(name));
    auto w = runtime::LoadHfCheckpoint(out);
    ASSERT_TRUE(w.ok()) << arch << ": " << w.status();
    const runtime::LayerWeights& l = w->layers[1];
    const std::string a = arch;
    EXPECT_EQ(l.bq.size(), a == "qwen2" || a == "llama-bias" ? 64u : 0u) << a;
    EXPECT_EQ(l.bo.size(), a == "llama-bias" ? 64u : 0u) << a;
    EXPECT_EQ(l.b2.size(), a == "llama-bias" ? 64u : 0u) << a;
    EXPECT_EQ(l.k_norm.size(), a == "qwen3" ? 16u : 0u) << a;
    EXPECT_EQ(w->config.sliding_window, a == "mistral" ? 8 : 0) << a;
    if (!l.bq.empty()) EXPECT_NE(l.bq[0], 1.0f) << "biases are random";
  }
  auto bad = RunTool(tool + " --out " + dir + "/x --arch gemma" + kSmall);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.output, HasSubstr("--arch: unknown architecture \"gemma\""));
  auto llama2c =
      RunTool(tool + " --out " + dir + "/y.bin --arch qwen2" + kSmall);
  EXPECT_EQ(llama2c.exit_code, 1);
  EXPECT_THAT(llama2c.output, HasSubstr("use --format hf"));
}

TEST(MakeSyntheticTest, RefusesWhatItCannotWrite) {
  const std::string dir = ::headroom::testing::MakeTempDir("synthetic-bad");
  const std::string tool = BinaryPath("tools/headroom-make-synthetic");
  auto gguf = RunTool(tool + " --out " + dir + "/x --format gguf" + kSmall);
  EXPECT_EQ(gguf.exit_code, 1);
  EXPECT_THAT(gguf.output, HasSubstr("--format: expected llama2c or hf"));
  auto narrow =
      RunTool(tool + " --out " + dir + "/x.bin --dtype bf16" + kSmall);
  EXPECT_EQ(narrow.exit_code, 1);
  EXPECT_THAT(narrow.output, HasSubstr("llama2.c checkpoints are fp32"));
  auto shape = RunTool(tool + " --out " + dir + "/x --shape llama9");
  EXPECT_EQ(shape.exit_code, 1);
  EXPECT_THAT(shape.output, HasSubstr("unknown shape"));
}

}  // namespace
}  // namespace headroom
