// ComputeProjections: the whole method for one model, every layer, from
// calibration statistics to a Projections ready to save or apply.
#ifndef HEADROOM_COMPRESS_COMPRESSOR_H_
#define HEADROOM_COMPRESS_COMPRESSOR_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "compress/calibration.h"
#include "compress/projections.h"
#include "runtime/model/model_weights.h"

namespace headroom::compress {

struct CompressOptions {
  std::string method = "svd-a";  // see DescribeMethods()
  int kv_heads = 0;              // g, the same for every layer
  // Ridge of the W_O refit, relative to the mean diagonal of A~^T A~.
  double refit_ridge = 1e-4;
  // For `auto`: scores a whole-model candidate (lower is better), e.g. the
  // perplexity of held-back calibration text. When set, `auto` compares the
  // per-layer choice with every uniform candidate and keeps the best, so it
  // is never worse than the best single method on that score.
  std::function<absl::StatusOr<double>(const Projections&)> score;
};

absl::StatusOr<Projections> ComputeProjections(
    const runtime::ModelWeights& original, const CalibrationStats& stats,
    const CompressOptions& options);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_COMPRESSOR_H_
