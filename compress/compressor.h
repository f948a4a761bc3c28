// ComputeProjections: the whole method for one model, every layer, from
// calibration statistics to a Projections ready to save or apply.
#ifndef HEADROOM_COMPRESS_COMPRESSOR_H_
#define HEADROOM_COMPRESS_COMPRESSOR_H_

#include <string>

#include "absl/status/statusor.h"
#include "compress/calibration.h"
#include "compress/heldback.h"
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

absl::StatusOr<Projections> ComputeProjections(
    const runtime::ModelWeights& original, const CalibrationStats& stats,
    const CompressOptions& options);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_COMPRESSOR_H_
