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
  EXPECT_THAT(tools::SyntheticShape("gpt2").status().message(),
              HasSubstr("unknown shape \"gpt2\""));
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
