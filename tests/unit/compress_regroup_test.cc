// Head regrouping and per-layer KV budgets: the permutation folded into the
// weights leaves the model the same function; regrouping finds duplicated
// heads wherever they sit; a budget is met, chosen per layer from measured
// sensitivities, and stays lossless where the model allows it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "compress/apply.h"
#include "compress/compressor.h"
#include "compress/head_order.h"
#include "compress/heldback.h"
#include "compress/methods.h"
#include "compress/projections_file.h"
#include "nlohmann/json.hpp"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::compress {
namespace {

using ::testing::HasSubstr;
using testing::Lines;
using testing::LoadShared;
using testing::Perplexity;
namespace t = ::headroom::testing;

constexpr char kMha[] = "models/stories260K-mha8/stories260K_mha8.bin";
constexpr char kText[] = "data/tinystories_val.txt";

// The identity maps of every layer, each with `order` as its regrouping.
Projections Reordered(const runtime::ModelWeights& w,
                      const std::vector<int>& order) {
  auto p = IdentityProjections(w);
  EXPECT_TRUE(p.ok()) << p.status();
  for (LayerProjection& l : p->layers) l.kv_order = order;
  return *std::move(p);
}

// Reordering the heads only moves rows of W_Q/W_K/W_V and columns of W_O as
// whole head blocks (checked bit for bit): every head computes exactly what
// it did, and only the order of the sum over heads inside W_O changes. So
// the model is the same function up to fp32 reassociation of that sum
// (relative error of order h*d*2^-24 per layer, ~1e-5 here), and perplexity
// agrees to 1e-5 relative.
TEST(RegroupTest, PermutedUncompressedModelIsTheSameFunction) {
  testing::LoadedModel m = LoadShared(t::EmbeddedModelPath());
  const runtime::ModelConfig& c = m.weights.config;
  const std::vector<int> order = {3, 0, 7, 5, 1, 6, 2, 4};
  runtime::ModelWeights w = m.weights;
  ASSERT_TRUE(ApplyProjections(Reordered(m.weights, order), &w).ok());
  const int d = c.head_dim, D = c.dim, hd = c.n_heads * d;
  for (int l = 0; l < c.n_layers; ++l) {
    const auto& a = m.weights.layers[l];
    const auto& b = w.layers[l];
    for (int p = 0; p < c.n_kv_heads; ++p) {
      for (int r = 0; r < d; ++r) {
        for (int x = 0; x < D; ++x) {
          const int64_t from = (int64_t{order[p]} * d + r) * D + x,
                        to = (int64_t{p} * d + r) * D + x;
          ASSERT_EQ(b.wk.f32()[to], a.wk.f32()[from]);
          ASSERT_EQ(b.wv.f32()[to], a.wv.f32()[from]);
          ASSERT_EQ(b.wq.f32()[to], a.wq.f32()[from]);
          ASSERT_EQ(b.wo.f32()[int64_t{x} * hd + p * d + r],
                    a.wo.f32()[int64_t{x} * hd + order[p] * d + r]);
        }
      }
    }
  }
  const auto eval =
      Lines(t::EmbeddedTextPath(), t::kEmbeddedEvalFirst, t::kEmbeddedEvalLast);
  const double original = Perplexity(m, nullptr, eval);
  const Projections p = Reordered(m.weights, order);
  EXPECT_NEAR(Perplexity(m, &p, eval), original, 1e-5 * original);
}

TEST(RegroupTest, BadOrdersAreRefused) {
  testing::LoadedModel m = LoadShared(t::EmbeddedModelPath());
  runtime::ModelWeights w = m.weights;
  auto s = ApplyProjections(Reordered(m.weights, {0, 1, 2}), &w);
  EXPECT_THAT(s.message(), HasSubstr("layers.0.kv_order has 3 entries"));
  s = ApplyProjections(Reordered(m.weights, {0, 1, 2, 3, 4, 5, 6, 6}), &w);
  EXPECT_THAT(s.message(), HasSubstr("not a permutation of 0..7"));
  EXPECT_EQ(w.layers[0].wk.f32()[0], m.weights.layers[0].wk.f32()[0]);
}

TEST(RegroupTest, KvOrderRoundTripsThroughTheFile) {
  testing::LoadedModel m = LoadShared(t::EmbeddedModelPath());
  const std::string dir = t::MakeTempDir("regroup");
  Projections p = Reordered(m.weights, {1, 0, 2, 3, 4, 5, 7, 6});
  ASSERT_TRUE(SaveProjections(p, dir + "/p.st").ok());
  auto back = LoadProjections(dir + "/p.st");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->layers[1].kv_order, p.layers[1].kv_order);
  const auto summary = nlohmann::json::parse(ProjectionsSummaryJson(*back));
  EXPECT_EQ(summary["format_version"], 2);
  EXPECT_EQ(summary["layers"][0]["groups"][6], nlohmann::json({7}));
  // A file without regrouping stays version 1 (older builds read it).
  p.layers[0].kv_order.clear();
  p.layers[1].kv_order.clear();
  EXPECT_EQ(nlohmann::json::parse(ProjectionsSummaryJson(p))["format_version"],
            1);
}

// stories260K-mha8 duplicates each KV head into slots 2k, 2k+1. Scramble
// the slots so that no contiguous pair is a duplicate: contiguous 8 -> 4
// loses energy, regrouping finds the pairs and is lossless again, and so is
// a budget of half the KV bytes with regrouping.
class ScrambledMhaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string model = t::SharedPath(kMha), text = t::SharedPath(kText);
    if (model.empty() || text.empty()) GTEST_SKIP() << "../shared absent";
    model_ = LoadShared(model);
    const std::vector<int> scramble = {0, 2, 4, 6, 1, 3, 5, 7};
    for (int l = 0; l < model_.weights.config.n_layers; ++l) {
      ASSERT_TRUE(PermuteKvHeads(model_.weights.config, scramble, l,
                                 &model_.weights.layers[l])
                      .ok());
    }
    const auto calib = Lines(text, 1, 200);
    stats_ = testing::CalibrateOn(model_, calib);
    heldback_.assign(calib.begin() + stats_.heldback_begin, calib.end());
    eval_ = Lines(text, 3001, 3060);
    original_ = Perplexity(model_, nullptr, eval_);
  }
  Projections Run(CompressOptions o) {
    o.score =
        MakeHeldbackScorer(model_.weights, *model_.tokenizer, heldback_, {});
    auto p = ComputeProjections(model_.weights, stats_, o);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : Projections{};
  }
  testing::LoadedModel model_;
  CalibrationStats stats_;
  std::vector<std::string> heldback_, eval_;
  double original_ = 0.0;
};

TEST_F(ScrambledMhaTest, RegroupingMergesTheDuplicatesExactly) {
  CompressOptions o;
  o.method = "svd-a";
  o.kv_heads = 4;
  const Projections contiguous = Run(o);
  for (const LayerProjection& l : contiguous.layers) {
    EXPECT_LT(l.value_energy, 0.99);
  }
  o.regroup = true;
  const Projections regrouped = Run(o);
  for (const LayerProjection& l : regrouped.layers) {
    EXPECT_THAT(l.kv_order, ::testing::ElementsAre(0, 4, 1, 5, 2, 6, 3, 7));
    EXPECT_NEAR(l.key_energy, 1.0, 1e-6);
    EXPECT_NEAR(l.value_energy, 1.0, 1e-6);
  }
  EXPECT_NEAR(Perplexity(model_, &regrouped, eval_), original_,
              1e-4 * original_);
}

TEST_F(ScrambledMhaTest, HalfTheBytesWithRegroupingIsLossless) {
  CompressOptions o;
  o.method = "rope-commuting";
  o.kv_budget = 0.5;
  o.regroup = true;
  const Projections p = Run(o);
  EXPECT_THAT(p.KvHeadsPerLayer(), ::testing::Each(4));
  EXPECT_NEAR(Perplexity(model_, &p, eval_), original_, 1e-4 * original_);
  const auto j = nlohmann::json::parse(p.decision);
  // g in {1, 2, 4} for each of the 5 layers (8 costs nothing).
  EXPECT_EQ(j["sensitivity"].size(), 15u);
  EXPECT_EQ(j["budget_kv_heads"], 20);
}

// headroom-tiny (8 distinct KV heads, 2 layers): the budget is met, the
// allocation minimises the summed measured sensitivities, and the record
// holds them.
TEST(KvBudgetTest, AllocationMeetsTheBudgetAndIsRecorded) {
  testing::LoadedModel m = LoadShared(t::EmbeddedModelPath());
  const auto calib = Lines(t::EmbeddedTextPath(), t::kEmbeddedCalibFirst,
                           t::kEmbeddedCalibLast);
  const CalibrationStats stats = testing::CalibrateOn(m, calib);
  CompressOptions o;
  o.method = "svd-a";
  o.kv_budget = 0.375;  // 6 of 16 KV heads over the two layers
  o.score = MakeHeldbackScorer(
      m.weights, *m.tokenizer,
      {calib.begin() + stats.heldback_begin, calib.end()}, {});
  auto p = ComputeProjections(m.weights, stats, o);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::vector<int> g = p->KvHeadsPerLayer();
  EXPECT_LE(g[0] + g[1], 6);
  const auto j = nlohmann::json::parse(p->decision);
  ASSERT_EQ(j["sensitivity"].size(), 6u);  // g in {1, 2, 4} per layer
  std::map<std::pair<int, int>, double> loss;
  for (const auto& row : j["sensitivity"]) {
    loss[{row["layer"].get<int>(), row["kv_heads"].get<int>()}] =
        row["delta_nll"].get<double>();
  }
  // Every split of 6 heads between the two layers, by brute force.
  double best = 1e30;
  std::vector<int> best_g;
  for (int a : {1, 2, 4}) {
    for (int b : {1, 2, 4}) {
      if (a + b <= 6 && loss[{0, a}] + loss[{1, b}] < best) {
        best = loss[{0, a}] + loss[{1, b}];
        best_g = {a, b};
      }
    }
  }
  EXPECT_EQ(j["allocation"].get<std::vector<int>>(), best_g);
  EXPECT_NEAR(j["predicted_delta_nll"].get<double>(), best, 1e-12);
  runtime::ModelWeights w = m.weights;
  EXPECT_TRUE(ApplyProjections(*p, &w).ok());
}

TEST(KvBudgetTest, BadBudgetsAreRefused) {
  testing::LoadedModel m = LoadShared(t::EmbeddedModelPath());
  const CalibrationStats stats =
      testing::CalibrateOn(m, Lines(t::EmbeddedTextPath(), 1, 10));
  CompressOptions o;
  o.method = "svd-a";
  for (double bad : {-0.5, 0.1, 1.5}) {
    o.kv_budget = bad;
    auto p = ComputeProjections(m.weights, stats, o);
    EXPECT_FALSE(p.ok()) << bad;
    EXPECT_THAT(p.status().message(), HasSubstr("must be in [1/8, 1]"));
  }
  o.kv_budget = 0.5;
  o.kv_heads = 4;
  EXPECT_THAT(ComputeProjections(m.weights, stats, o).status().message(),
              HasSubstr("not both"));
  o.kv_heads = 0;  // and no scorer
  EXPECT_THAT(ComputeProjections(m.weights, stats, o).status().message(),
              HasSubstr("no held-back scorer"));
}

// The refit on propagated inputs fits layer 1 on what the compressed layer
// 0 gives it: a different W_O from the refit on the original inputs, and
// layer 0 (nothing before it) the same.
TEST(PropagatedRefitTest, LaterLayersFitOnTheCompressedModelsInputs) {
  testing::LoadedModel m = LoadShared(t::EmbeddedModelPath());
  const auto calib = Lines(t::EmbeddedTextPath(), t::kEmbeddedCalibFirst,
                           t::kEmbeddedCalibLast);
  const CalibrationStats stats = testing::CalibrateOn(m, calib);
  CompressOptions o;
  o.method = "svd-a+refit";
  o.kv_heads = 2;
  auto original = ComputeProjections(m.weights, stats, o);
  ASSERT_TRUE(original.ok()) << original.status();
  o.refit_inputs = RefitInputs::kPropagated;
  EXPECT_THAT(ComputeProjections(m.weights, stats, o).status().message(),
              HasSubstr("input recorder"));
  o.record_inputs = MakeInputRecorder(
      m.weights, *m.tokenizer,
      {calib.begin(), calib.begin() + stats.fit_sample.lengths.size()},
      stats.fit_sample.lengths, {});
  auto propagated = ComputeProjections(m.weights, stats, o);
  ASSERT_TRUE(propagated.ok()) << propagated.status();
  EXPECT_EQ(propagated->layers[0].wo, original->layers[0].wo);
  EXPECT_NE(propagated->layers[1].wo, original->layers[1].wo);
  // The recorder of the uncompressed model reproduces the calibration's
  // own inputs.
  auto same = o.record_inputs(Reordered(m.weights, {0, 1, 2, 3, 4, 5, 6, 7}));
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->inputs[1], stats.fit_sample.inputs[1]);
}

}  // namespace
}  // namespace headroom::compress
