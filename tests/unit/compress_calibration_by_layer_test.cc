// Calibration a layer at a time (CalibrateByLayer) against the whole
// model's forward pass observed layer by layer: the attention inputs it
// samples are the same bits, and its statistics are the same sums of the
// same terms (up to the order of a double summation).

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "compress/calibration.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/model/forward_observer.h"
#include "runtime/sequence_runner.h"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::compress {
namespace {

namespace ht = ::headroom::testing;
namespace t = ::headroom::compress::testing;

// Every layer's activations of every step, kept.
class Recorder final : public runtime::ForwardObserver {
 public:
  struct Layer {
    std::vector<float> inputs, keys, values;
  };
  explicit Recorder(const runtime::ModelConfig& c)
      : c_(c), layers_(c.n_layers) {}
  void OnLayer(const runtime::LayerActivations& a) override {
    const int64_t T = a.num_tokens, nd = int64_t{c_.n_kv_heads} * c_.head_dim;
    Layer& l = layers_[a.layer];
    l.inputs.insert(l.inputs.end(), a.attn_input, a.attn_input + T * c_.dim);
    l.keys.insert(l.keys.end(), a.keys, a.keys + T * nd);
    l.values.insert(l.values.end(), a.values, a.values + T * nd);
  }

 private:
  const runtime::ModelConfig& c_;

 public:
  std::vector<Layer> layers_;
};

// X^T X of rows [T, n], term by term in double (each term x_i x_j of two
// floats is exact in double), and the sum of the terms' magnitudes.
void Gram(const std::vector<float>& x, int n, std::vector<double>* sum,
          std::vector<double>* abs_sum) {
  const int64_t T = static_cast<int64_t>(x.size()) / n;
  sum->assign(int64_t{n} * n, 0.0);
  abs_sum->assign(int64_t{n} * n, 0.0);
  for (int64_t t = 0; t < T; ++t) {
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        const double v = double{x[t * n + i]} * x[t * n + j];
        (*sum)[int64_t{i} * n + j] += v;
        (*abs_sum)[int64_t{i} * n + j] += std::abs(v);
      }
    }
  }
}

void ExpectSameSums(const std::vector<double>& got,
                    const std::vector<double>& want,
                    const std::vector<double>& abs_sum, int64_t terms,
                    const char* what) {
  // Two summations of the same `terms` exact terms in different orders each
  // err by at most gamma_terms * sum |term| (Higham, eq. 4.4).
  const double u = std::numeric_limits<double>::epsilon() / 2;
  const double gamma = terms * u / (1 - terms * u);
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_LE(std::abs(got[i] - want[i]), 2 * gamma * abs_sum[i])
        << what << " entry " << i;
  }
}

void CheckModel(const std::string& model_path, const std::string& text) {
  t::LoadedModel m = t::LoadShared(model_path);
  const runtime::ModelConfig& c = m.weights.config;
  const std::vector<std::string> lines = t::Lines(text, 1, 24);
  CalibrationOptions options;
  options.holdback_tokens = 400;  // a few held-back lines: a select sample
  options.max_fit_sample_tokens = 1500;  // part of the lines only
  auto stats = Calibrate(m.weights, *m.tokenizer, lines, options, 2);
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_GT(stats->heldback_begin, 0u);
  ASSERT_LT(stats->heldback_begin, lines.size());
  ASSERT_LT(stats->fit_sample.lengths.size(), stats->heldback_begin);

  // The whole model, one sequence at a time: statistics lines, then the
  // held-back lines of the select sample.
  auto backend = runtime::CreateCpuBackend(m.weights, {});
  ASSERT_TRUE(backend.ok());
  Recorder stat_rec(c), fit_rec(c), select_rec(c);
  runtime::SequenceRunner runner(backend->get());
  std::vector<float> logits;
  const size_t n_select = stats->select_sample.lengths.size();
  for (size_t i = 0; i < stats->heldback_begin + n_select; ++i) {
    const bool in_stats = i < stats->heldback_begin;
    Recorder* rec = in_stats ? &stat_rec : &select_rec;
    std::vector<int> ids = m.tokenizer->Encode(lines[i], true);
    if (static_cast<int>(ids.size()) > c.max_seq_len) ids.resize(c.max_seq_len);
    std::vector<Recorder*> recorders = {rec};
    if (i < stats->fit_sample.lengths.size()) recorders.push_back(&fit_rec);
    for (Recorder* r : recorders) {
      ASSERT_TRUE((*backend)->SetObserver(r).ok());
      runner.Reset();
      ASSERT_TRUE(runner.Append(ids, false, &logits).ok());
    }
  }
  ASSERT_TRUE((*backend)->SetObserver(nullptr).ok());

  const int nd = c.n_kv_heads * c.head_dim;
  for (int l = 0; l < c.n_layers; ++l) {
    // The samples: the same bits.
    EXPECT_EQ(stats->fit_sample.inputs[l], fit_rec.layers_[l].inputs)
        << "fit sample, layer " << l;
    EXPECT_EQ(stats->select_sample.inputs[l], select_rec.layers_[l].inputs)
        << "select sample, layer " << l;
    std::vector<double> want, abs_sum;
    Gram(stat_rec.layers_[l].keys, nd, &want, &abs_sum);
    ExpectSameSums(stats->layers[l].key_second_moment, want, abs_sum,
                   stats->tokens, "C_K");
    Gram(stat_rec.layers_[l].values, nd, &want, &abs_sum);
    ExpectSameSums(stats->layers[l].value_second_moment, want, abs_sum,
                   stats->tokens, "C_V");
  }
}

TEST(CalibrationByLayerTest, MatchesTheWholeModelOnStories260K) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(text, "data/tinystories_val.txt");
  CheckModel(model, text);
}

TEST(CalibrationByLayerTest, MatchesTheWholeModelOnHeadroomTiny) {
  CheckModel(ht::EmbeddedModelPath(), ht::EmbeddedTextPath());
}

TEST(CalibrationByLayerTest, EveryLayerIsDeliveredOnceInOrderAndFreed) {
  t::LoadedModel m = t::LoadShared(ht::EmbeddedModelPath());
  const auto lines = t::Lines(ht::EmbeddedTextPath(), 1, 6);
  int planned = 0;
  std::vector<int> seen;
  auto stats = CalibrateByLayer(
      m.weights, *m.tokenizer, lines, {}, 1,
      [&](const CalibrationStats& plan) {
        ++planned;
        EXPECT_GT(plan.tokens, 0);
        EXPECT_FALSE(plan.fit_sample.lengths.empty());
        for (const LayerStats& s : plan.layers) {
          EXPECT_TRUE(s.key_second_moment.empty());
        }
        return absl::OkStatus();
      },
      [&](int layer, CalibrationStats& s) {
        seen.push_back(layer);
        EXPECT_FALSE(s.layers[layer].key_second_moment.empty());
        EXPECT_FALSE(s.fit_sample.inputs[layer].empty());
        for (int other = 0; other < layer; ++other) {
          EXPECT_TRUE(s.layers[other].key_second_moment.empty());
          EXPECT_TRUE(s.fit_sample.inputs[other].empty());
        }
        return absl::OkStatus();
      });
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(planned, 1);
  std::vector<int> want(m.weights.config.n_layers);
  for (int l = 0; l < m.weights.config.n_layers; ++l) want[l] = l;
  EXPECT_EQ(seen, want);
}

TEST(CalibrationByLayerTest, AnErrorOfTheSinkStopsCalibration) {
  t::LoadedModel m = t::LoadShared(ht::EmbeddedModelPath());
  const auto lines = t::Lines(ht::EmbeddedTextPath(), 1, 4);
  int calls = 0;
  auto stats = CalibrateByLayer(
      m.weights, *m.tokenizer, lines, {}, 1, {},
      [&](int layer, CalibrationStats&) {
        ++calls;
        return layer == 0 ? absl::OkStatus()
                          : absl::InternalError("sink refused layer 1");
      });
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace headroom::compress
