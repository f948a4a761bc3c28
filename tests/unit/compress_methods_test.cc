// The transformations on real models: exactness where the method says so,
// energy monotone in g, and per-layer KV heads in the runtime. The embedded
// model (headroom-tiny, MHA with 8 KV heads, tests/data text) runs without
// ../shared; stories260K (GQA) and stories260K-mha8 (duplicated heads) are
// for the properties only those layouts have.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "compress/apply.h"
#include "compress/compressor.h"
#include "compress/methods.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/kv/kv_cache.h"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::compress {
namespace {

using testing::Compress;
using testing::Lines;
using testing::LoadShared;
using testing::Perplexity;

constexpr char kGqa[] = "models/stories260K/stories260K.bin";
constexpr char kMha[] = "models/stories260K-mha8/stories260K_mha8.bin";
constexpr char kText[] = "data/tinystories_val.txt";

// Shared models: calibration on lines 1:200, evaluation on the disjoint
// lines 3001:3060 of TinyStories. The embedded model: the calibration and
// evaluation lines of tests/data/tiny_stories.txt.
class MethodsTest : public ::testing::Test {
 protected:
  void Load(const std::string& model_path, const std::string& text) {
    Load(model_path, text, 1, 200, 3001, 3060);
  }
  void LoadEmbedded() {
    namespace t = ::headroom::testing;
    Load(t::EmbeddedModelPath(), t::EmbeddedTextPath(), t::kEmbeddedCalibFirst,
         t::kEmbeddedCalibLast, t::kEmbeddedEvalFirst, t::kEmbeddedEvalLast);
    ASSERT_EQ(model_.weights.config.n_kv_heads, 8);
    ASSERT_EQ(model_.weights.config.n_heads, 8);
  }
  void Load(const std::string& model_path, const std::string& text,
            int calib_first, int calib_last, int eval_first, int eval_last) {
    model_ = LoadShared(model_path);
    stats_ = testing::CalibrateOn(model_, Lines(text, calib_first, calib_last));
    eval_ = Lines(text, eval_first, eval_last);
    original_ppl_ = Perplexity(model_, nullptr, eval_);
  }
  testing::LoadedModel model_;
  CalibrationStats stats_;
  std::vector<std::string> eval_;
  double original_ppl_ = 0.0;
};

const std::vector<std::string>& AllMethodNames() {
  static const auto* names =
      new std::vector<std::string>{"mean-pool",   "svd-w",
                                   "svd-a",       "rope-commuting",
                                   "svd-a-qa",    "rope-commuting-qa",
                                   "svd-a+refit", "rope-commuting+refit",
                                   "auto"};
  return *names;
}

// GQA: two query heads per KV head, kept as they are.
TEST_F(MethodsTest, KeepingEveryHeadReproducesTheModel) {
  HEADROOM_REQUIRE_SHARED(model, kGqa);
  HEADROOM_REQUIRE_SHARED(text, kText);
  Load(model, text);
  for (const std::string& method : AllMethodNames()) {
    const Projections p = Compress(model_, stats_, method, /*kv_heads=*/4);
    const double ppl = Perplexity(model_, &p, eval_);
    EXPECT_NEAR(ppl, original_ppl_, 1e-5 * original_ppl_) << method;
  }
}

// MHA: every one of the 8 KV heads kept.
TEST_F(MethodsTest, KeepingEveryHeadReproducesTheEmbeddedModel) {
  LoadEmbedded();
  for (const std::string& method : AllMethodNames()) {
    const Projections p = Compress(model_, stats_, method, /*kv_heads=*/8);
    const double ppl = Perplexity(model_, &p, eval_);
    EXPECT_NEAR(ppl, original_ppl_, 1e-5 * original_ppl_) << method;
  }
}

TEST_F(MethodsTest, DuplicatedHeadsMergeExactly) {
  HEADROOM_REQUIRE_SHARED(model, kMha);
  HEADROOM_REQUIRE_SHARED(text, kText);
  Load(model, text);
  for (const std::string& method : {"svd-a", "rope-commuting", "mean-pool",
                                    "svd-a-qa", "rope-commuting-qa", "svd-w"}) {
    const Projections p = Compress(model_, stats_, method, /*kv_heads=*/4);
    const double ppl = Perplexity(model_, &p, eval_);
    EXPECT_NEAR(ppl, original_ppl_, 1e-4 * original_ppl_) << method;
    for (const LayerProjection& l : p.layers) {
      EXPECT_NEAR(l.key_energy, 1.0, 1e-6) << method;
      EXPECT_NEAR(l.value_energy, 1.0, 1e-6) << method;
    }
  }
}

// On the embedded MHA model (8 distinct KV heads; stories260K-mha8 would
// keep all the energy down to 4 heads, its heads being duplicates).
TEST_F(MethodsTest, EnergyKeptIsMonotoneInKvHeads) {
  LoadEmbedded();
  std::vector<Projections> by_g;
  for (int g : {8, 4, 2, 1})
    by_g.push_back(Compress(model_, stats_, "svd-a", g));
  for (int l = 0; l < model_.weights.config.n_layers; ++l) {
    for (size_t k = 1; k < by_g.size(); ++k) {
      EXPECT_LE(by_g[k].layers[l].key_energy,
                by_g[k - 1].layers[l].key_energy + 1e-9)
          << "layer " << l;
      EXPECT_LE(by_g[k].layers[l].value_energy,
                by_g[k - 1].layers[l].value_energy + 1e-9)
          << "layer " << l;
    }
    EXPECT_LT(by_g.back().layers[l].key_energy, 1.0 - 1e-4);
  }
}

// g_l differs from layer to layer: the forward pass and the page pool
// follow each layer's own count (headroom-tiny: 2 layers, 8 KV heads).
TEST_F(MethodsTest, KvHeadsMayDifferPerLayer) {
  LoadEmbedded();
  ASSERT_EQ(model_.weights.config.n_layers, 2);
  const Projections two = Compress(model_, stats_, "svd-a", 2);
  const Projections one = Compress(model_, stats_, "rope-commuting", 1);
  runtime::ModelWeights w = model_.weights;
  for (int l = 0; l < w.config.n_layers; ++l) {
    ASSERT_TRUE(
        ApplyLayerProjection(l < 1 ? two.layers[l] : one.layers[l], l, &w)
            .ok());
  }
  EXPECT_THAT(w.config.cache_kv_heads, ::testing::ElementsAre(2, 1));
  const int64_t d = w.config.head_dim;
  EXPECT_EQ(runtime::KvCache::BytesPerBlock(w.config, 16),
            16 * 2 * (2 + 1) * d * 4);
  runtime::BackendOptions options;
  options.num_blocks = 8;
  auto backend = runtime::CreateCpuBackend(std::move(w), options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->kv_cache_bytes(), 8 * 16 * 2 * 3 * d * 4);
  std::vector<float> logits;
  // Two evaluation lines: more than one page in each layer.
  const std::vector<int> ids =
      model_.tokenizer->Encode(eval_[0] + " " + eval_[1], true);
  ASSERT_GT(ids.size(), 40u);
  runtime::Batch batch;
  batch.block_tables = {{0, 1, 2, 3, 4, 5, 6, 7}};
  batch.AddTokens(0, ids.data(),
                  std::min<int>(ids.size(), model_.weights.config.max_seq_len),
                  0, true);
  ASSERT_TRUE((*backend)->Forward(batch, &logits).ok());
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
}

// `auto` picks per layer on held-back calibration lines; a one-line text
// holds nothing back, so it is refused by name instead of choosing on the
// statistics' own tokens.
TEST(AutoMethodTest, OneCalibrationLineIsRefused) {
  testing::LoadedModel model =
      testing::LoadShared(::headroom::testing::EmbeddedModelPath());
  const CalibrationStats one = testing::CalibrateOn(
      model, {"Once upon a time, there was a little dog named Max."});
  EXPECT_EQ(one.heldback_begin, 1u);
  CompressOptions options;
  options.method = "auto";
  options.kv_heads = 4;
  auto p = ComputeProjections(model.weights, one, options);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(p.status())) << p.status();
  EXPECT_THAT(std::string(p.status().message()),
              ::testing::HasSubstr("none were held back"));
  EXPECT_THAT(std::string(p.status().message()),
              ::testing::HasSubstr("at least 2 calibration lines"));
  // Two lines hold the last one back: auto chooses, and records its choice
  // per layer.
  const CalibrationStats two = testing::CalibrateOn(
      model, {"Once upon a time, there was a little dog named Max.",
              "Lily liked to play in the park with her red ball."});
  p = ComputeProjections(model.weights, two, options);
  ASSERT_TRUE(p.ok()) << p.status();
  for (const LayerProjection& l : p->layers) EXPECT_FALSE(l.method.empty());
}

TEST(MethodParsingTest, NamesAndErrors) {
  auto spec = ParseMethod("svd-a+refit");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->base, BaseMethod::kSvdA);
  EXPECT_TRUE(spec->refit_wo);
  EXPECT_TRUE(ParseMethod("auto")->is_auto);
  for (BaseMethod m : AllBaseMethods()) {
    EXPECT_TRUE(ParseMethod(BaseMethodName(m)).ok());
    EXPECT_THAT(DescribeMethods(), ::testing::HasSubstr(BaseMethodName(m)));
  }
  EXPECT_THAT(ParseMethod("svd-b").status().message(),
              ::testing::HasSubstr("unknown method 'svd-b'"));
  EXPECT_FALSE(ParseMethod("+refit").ok());
}

TEST_F(MethodsTest, KvHeadsMustDivide) {
  LoadEmbedded();
  auto p = ComputeLayerProjection(BaseMethod::kSvdA, model_.weights, 0,
                                  &stats_.layers[0], 3);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), ::testing::HasSubstr("--kv-heads 3"));
}

}  // namespace
}  // namespace headroom::compress
