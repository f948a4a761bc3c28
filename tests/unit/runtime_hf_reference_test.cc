// Each architecture's forward pass against an independent reference: a
// small random-weight Hugging Face checkpoint of each (written by
// headroom-make-synthetic) run by Headroom's CPU backend and by
// tests/reference/hf_forward.py, which implements the published equations
// of LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM and
// Qwen3ForCausalLM in float64 with PyTorch (Debian's python3-torch). The
// logits of every position agree within 1e-4.
//
// The weights are 10x the tool's default scale (standard deviation 0.2),
// so attention is sharp and every term (biases, q/k norms, the RoPE
// frequencies, the window) moves the logits by far more than the bound.
// Debian's /usr/bin/python3 with torch and numpy is required (a pyenv or
// venv python would not see the Debian packages): without them it fails,
// naming what is missing.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "absl/strings/str_join.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/sequence_runner.h"
#include "runtime/weights/model_loader.h"
#include "tests/test_support.h"
#include "tests/tool_runner.h"

namespace headroom::runtime {
namespace {

using ::headroom::testing::BinaryPath;
using ::headroom::testing::MakeTempDir;
using ::headroom::testing::RunTool;

constexpr char kSmall[] =
    " --dim 64 --hidden 96 --layers 2 --heads 4 --kv-heads 2 --vocab 96"
    " --seq-len 64 --seed 11 --weight-scale 10 --format hf --dtype f32";
constexpr int kTokens = 24;

struct ArchCase {
  const char* name;
  const char* flags;  // what selects the architecture and its features
};

const ArchCase kCases[] = {
    // LLaMA with attention_bias and mlp_bias (q/k/v/o and MLP biases).
    {"llama_biases", " --arch llama-bias"},
    // LLaMA 3.1's config: rope_theta 500000, rope_scaling llama3.
    {"llama31_rope_scaling", " --shape llama3.1-8b"},
    // Mistral with a window of 5, shorter than the 24-token prompt.
    {"mistral_window", " --arch mistral --sliding-window 5"},
    // Qwen2: q/k/v biases.
    {"qwen2", " --arch qwen2"},
    // Qwen3: per-head RMSNorm of queries and keys.
    {"qwen3", " --arch qwen3"},
};

std::string MissingPythonModules() {
  auto r = RunTool("/usr/bin/python3 -c 'import torch, numpy'");
  if (r.exit_code == 0) return "";
  return "python3 with torch and numpy is needed (Debian: python3-torch "
         "python3-numpy; scripts/test.sh installs them): " +
         r.output;
}

class HfReferenceTest : public ::testing::TestWithParam<ArchCase> {};

TEST_P(HfReferenceTest, LogitsMatchTheTorchReferenceAtEveryPosition) {
  const std::string missing = MissingPythonModules();
  ASSERT_TRUE(missing.empty()) << missing;
  const ArchCase& arch = GetParam();
  const std::string dir = MakeTempDir(std::string("hf_reference_") + arch.name);
  const std::string model = dir + "/model";
  auto made = RunTool(BinaryPath("tools/headroom-make-synthetic") + " --out " +
                      model + kSmall + arch.flags);
  ASSERT_EQ(made.exit_code, 0) << made.output;

  auto weights = LoadModel(model, {});
  ASSERT_TRUE(weights.ok()) << weights.status();
  const int vocab = weights->config.vocab_size;
  std::mt19937 rng(5);
  std::vector<int> ids(kTokens);
  for (int& id : ids) id = static_cast<int>(rng() % vocab);

  BackendOptions options;
  options.num_blocks = 8;
  auto backend = CreateCpuBackend(*std::move(weights), options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  SequenceRunner runner(backend->get());
  std::vector<float> logits;
  ASSERT_TRUE(runner.Append(ids, /*all_logits=*/true, &logits).ok());
  ASSERT_EQ(logits.size(), static_cast<size_t>(kTokens) * vocab);

  const std::string out = dir + "/reference.f64";
  auto ref = RunTool("/usr/bin/python3 " + std::string(HEADROOM_SOURCE_DIR) +
                     "/tests/reference/hf_forward.py " + model + " " +
                     absl::StrJoin(ids, ",") + " " + out);
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  std::vector<double> want(logits.size());
  std::ifstream in(out, std::ios::binary);
  in.read(reinterpret_cast<char*>(want.data()),
          static_cast<std::streamsize>(want.size() * sizeof(double)));
  ASSERT_TRUE(in.good()) << "cannot read " << out;
  double largest = 0.0, worst = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    largest = std::max(largest, std::abs(want[i]));
    worst = std::max(worst, std::abs(logits[i] - want[i]));
    ASSERT_LE(std::abs(logits[i] - want[i]), 1e-4)
        << arch.name << ": position " << i / vocab << ", token " << i % vocab;
  }
  // Logits of this size make the 1e-4 bound a real check of every term.
  EXPECT_GT(largest, 1.0) << arch.name;
  RecordProperty("max_abs_error", std::to_string(worst));
}

INSTANTIATE_TEST_SUITE_P(Architectures, HfReferenceTest,
                         ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<ArchCase>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace headroom::runtime
