// ComputeProjections: the whole method for one model, every layer, from
// calibration statistics to a Projections ready to save or apply.
#ifndef HEADROOM_COMPRESS_COMPRESSOR_H_
#define HEADROOM_COMPRESS_COMPRESSOR_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compress/calibration.h"
#include "compress/heldback.h"
#include "compress/methods.h"
#include "compress/projections.h"
#include "runtime/model/model_weights.h"

namespace headroom::compress {

// What the compressed heads of a W_O refit read (docs/compression.md,
// "W_O refit"): the original model's attention inputs, or the inputs the
// compressed model itself gives the layer (its earlier layers compressed).
enum class RefitInputs { kOriginal, kPropagated };

struct CompressOptions {
  std::string method = "svd-a";  // see DescribeMethods()
  // Either g, the same for every layer, or a budget: the fraction of the
  // original KV bytes (0 < F <= 1), g_l chosen per layer from the divisors
  // of n to minimise the held-back NLL (docs/compression.md, "budgets").
  int kv_heads = 0;
  double kv_budget = 0.0;
  // Choose which KV heads share a group (compress/head_order.h).
  bool regroup = false;
  // Ridge of the W_O refit, relative to the mean diagonal of A~^T A~.
  double refit_ridge = 1e-4;
  RefitInputs refit_inputs = RefitInputs::kOriginal;
  // For kPropagated: the attention inputs, for the fit sample's lines and
  // lengths, of the model that a Projections makes (identity layers where
  // nothing is compressed yet).
  InputRecorder record_inputs;
  // Per-token NLL of a whole-model candidate on the held-back calibration
  // lines. Needed by `auto` (which compares its per-layer choice with every
  // uniform method) and by kv_budget (per-layer sensitivity, then the
  // allocation against the uniform one); the decision is recorded in
  // Projections::decision.
  HeldbackScorer score;
  DecisionRule rule;
};

// Every layer kept as it is (mean-pool keeping all n heads is the identity
// map): the base that budgets' sensitivities and propagated refits compare
// against, for `original`'s digest and shapes.
absl::StatusOr<Projections> IdentityProjections(
    const runtime::ModelWeights& original);

// The candidates of one layer at one g: every variant (method, refit,
// regrouping) and the one of least output error.
struct LayerVariants {
  std::vector<LayerProjection> variants;
  std::vector<std::string> labels;
  size_t best = 0;
};

// ComputeProjections a layer at a time, for calibration that delivers one
// layer's statistics at a time (CalibrateByLayer): memory holds one layer's
// statistics and samples, and every layer's candidates.
class ProjectionsBuilder {
 public:
  // Checks `options` against the model and the calibration's plan: `stats`
  // needs its counts, digest and sample lengths; its layers may be empty.
  static absl::StatusOr<std::unique_ptr<ProjectionsBuilder>> Create(
      const runtime::ModelWeights& original, const CalibrationStats& stats,
      const CompressOptions& options);
  // Layer `layer`'s candidates from stats.layers[layer] and the samples'
  // inputs[layer]; layers come in order 0, 1, ...
  absl::Status AddLayer(int layer, const CalibrationStats& stats);
  // The chosen projections, once every layer was added (for auto and
  // budgets: the held-back comparison of whole-model candidates).
  absl::StatusOr<Projections> Finish();

 private:
  ProjectionsBuilder(const runtime::ModelWeights& original,
                     CompressOptions options)
      : original_(original), options_(std::move(options)) {}

  const runtime::ModelWeights& original_;  // outlives the builder
  CompressOptions options_;
  MethodSpec spec_;
  bool budget_mode_ = false;
  bool propagated_ = false;
  std::vector<int> gs_;  // the g of each candidate column
  Projections out_;      // the header every candidate shares
  // table_[l][k]: the candidates of layer l at g = gs_[k].
  std::vector<std::vector<LayerVariants>> table_;
  int64_t requested_heldback_tokens_ = 0;
  int next_layer_ = 0;
};

absl::StatusOr<Projections> ComputeProjections(
    const runtime::ModelWeights& original, const CalibrationStats& stats,
    const CompressOptions& options);

// Calibration by layer (CalibrateByLayer) with the projections of every
// entry of `options` computed on the way, so that no more than one layer's
// statistics are ever held. `prepare` (may be empty) completes each entry
// once the calibration's plan is known: its held-back scorer and input
// recorder need the held-back split and the fit sample's lengths. `stats`
// (may be null) receives the plan; `times` (may be null) the seconds spent
// running the model and computing projections.
struct CompressionTimes {
  double calibration_seconds = 0.0;
  std::vector<double> transform_seconds;  // per entry of `options`
};
using OptionsPreparer =
    std::function<absl::Status(const CalibrationStats&, CompressOptions&)>;
absl::StatusOr<std::vector<Projections>> CalibrateAndCompress(
    const runtime::ModelWeights& original, const runtime::Tokenizer& tokenizer,
    const std::vector<std::string>& texts,
    const CalibrationOptions& calibration, int threads,
    std::vector<CompressOptions> options, const OptionsPreparer& prepare,
    CalibrationStats* stats, CompressionTimes* times);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_COMPRESSOR_H_
