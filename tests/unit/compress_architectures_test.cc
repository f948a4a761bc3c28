// Compression on each architecture the loader accepts (issue: LLaMA with
// attention and MLP biases, Mistral's sliding window, Qwen2's q/k/v biases,
// Qwen3's per-head q/k norms, LLaMA 3.1's scaled RoPE): on a model whose KV
// heads come in identical pairs (an exact MHA oracle: it is a GQA model in
// disguise), every method that applies merges the pairs without changing
// the function, biases and norms included; methods that cannot fold
// through Qwen3's key norm are refused with the reason, and `auto` picks
// among the others.
//
// The model is the embedded headroom-tiny (8 KV heads) given each
// architecture's features with random values, its K/V heads (and their
// biases) duplicated pairwise.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "compress/compressor.h"
#include "compress/methods.h"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::compress {
namespace {

using ::testing::HasSubstr;
using testing::LoadedModel;

struct Architecture {
  const char* name;
  bool qkv_bias = false, output_bias = false, mlp_bias = false;
  bool qk_norm = false;
  int sliding_window = 0;
  bool llama3_rope = false;
};

std::vector<float> Random(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Rows of head 2i+1 := rows of head 2i, for a [heads * d, cols] block.
void DuplicatePairs(float* rows, int heads, int d, int64_t cols) {
  for (int head = 0; head + 1 < heads; head += 2) {
    const int64_t n = int64_t{d} * cols;
    std::copy(rows + head * n, rows + (head + 1) * n, rows + (head + 1) * n);
  }
}

LoadedModel WithFeatures(const Architecture& a) {
  LoadedModel m = testing::LoadShared(headroom::testing::EmbeddedModelPath());
  runtime::ModelConfig& c = m.weights.config;
  c.qkv_bias = a.qkv_bias;
  c.output_bias = a.output_bias;
  c.mlp_bias = a.mlp_bias;
  c.qk_norm = a.qk_norm;
  c.sliding_window = a.sliding_window;
  if (a.llama3_rope) {
    // Short original context so that every regime of the scaling occurs.
    c.rope_scaling = {runtime::RopeScaling::Type::kLlama3, 4.0f, 1.0f, 4.0f,
                      64};
  }
  std::mt19937 rng(11);
  const int64_t D = c.dim, d = c.head_dim, F = c.hidden_dim;
  const int n = c.n_kv_heads;
  for (runtime::LayerWeights& lw : m.weights.layers) {
    DuplicatePairs(lw.wk.MutableF32(), n, d, D);
    DuplicatePairs(lw.wv.MutableF32(), n, d, D);
    if (c.qkv_bias) {
      lw.bq = Random(rng, int64_t{c.n_heads} * d, -0.3f, 0.3f);
      lw.bk = Random(rng, n * d, -0.3f, 0.3f);
      lw.bv = Random(rng, n * d, -0.3f, 0.3f);
      DuplicatePairs(lw.bk.data(), n, d, 1);
      DuplicatePairs(lw.bv.data(), n, d, 1);
    }
    if (c.output_bias) lw.bo = Random(rng, D, -0.1f, 0.1f);
    if (c.mlp_bias) {
      lw.b1 = Random(rng, F, -0.1f, 0.1f);
      lw.b3 = Random(rng, F, -0.1f, 0.1f);
      lw.b2 = Random(rng, D, -0.1f, 0.1f);
    }
    if (c.qk_norm) {
      lw.q_norm = Random(rng, d, 0.5f, 1.5f);
      lw.k_norm = Random(rng, d, 0.5f, 1.5f);
    }
  }
  EXPECT_TRUE(m.weights.Validate().ok()) << m.weights.Validate();
  return m;
}

class ArchitecturesTest : public ::testing::TestWithParam<Architecture> {};

TEST_P(ArchitecturesTest,
       DuplicatedHeadsMergeExactlyWithEveryMethodThatApplies) {
  const Architecture& a = GetParam();
  const LoadedModel m = WithFeatures(a);
  const std::vector<std::string> text =
      testing::Lines(headroom::testing::EmbeddedTextPath(), 1, 24);
  const std::vector<std::string> eval =
      testing::Lines(headroom::testing::EmbeddedTextPath(), 25, 32);
  const CalibrationStats stats = testing::CalibrateOn(m, text);
  const double original = testing::Perplexity(m, nullptr, eval);
  ASSERT_GT(original, 1.0);
  const std::vector<BaseMethod> applicable =
      ApplicableBaseMethods(m.weights.config);
  for (BaseMethod base : applicable) {
    const std::string method = BaseMethodName(base);
    const Projections p =
        testing::Compress(m, stats, method, m.weights.config.n_kv_heads / 2);
    EXPECT_NEAR(testing::Perplexity(m, &p, eval), original, 1e-4 * original)
        << a.name << " " << method;
  }
  const Projections chosen =
      testing::Compress(m, stats, "auto", m.weights.config.n_kv_heads / 2);
  EXPECT_NEAR(testing::Perplexity(m, &chosen, eval), original, 1e-4 * original)
      << a.name << " auto";
  if (!a.qk_norm) {
    EXPECT_EQ(applicable.size(), AllBaseMethods().size()) << a.name;
    return;
  }
  // Qwen3: the pre-RoPE folds are refused with the reason, and auto never
  // picks them.
  EXPECT_EQ(applicable.size(), AllBaseMethods().size() - 3);
  for (const LayerProjection& l : chosen.layers) {
    EXPECT_EQ(l.key_mode, KeyMode::kPostRope) << l.method;
  }
  CompressOptions options;
  options.method = "rope-commuting";
  options.kv_heads = m.weights.config.n_kv_heads / 2;
  auto refused = ComputeProjections(m.weights, stats, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("qk_norm"));
}

INSTANTIATE_TEST_SUITE_P(
    Each, ArchitecturesTest,
    ::testing::Values(
        Architecture{"llama_biases", true, true, true, false, 0, false},
        Architecture{"llama31_rope_scaling", false, false, false, false, 0,
                     true},
        Architecture{"mistral_window", false, false, false, false, 9, false},
        Architecture{"qwen2", true, false, false, false, 0, false},
        Architecture{"qwen3", false, false, false, true, 0, false}),
    [](const ::testing::TestParamInfo<Architecture>& info) {
      return std::string(info.param.name);
    });

}  // namespace
}  // namespace headroom::compress
