// Folding projections into a model's weights (on load, once; the original
// K/V/Q/O weights are not kept).
#ifndef HEADROOM_COMPRESS_APPLY_H_
#define HEADROOM_COMPRESS_APPLY_H_

#include "absl/status/status.h"
#include "compress/projections.h"
#include "runtime/model/model_weights.h"

namespace headroom::compress {

// Applies `projection` to layer `layer` of `weights` (which must still have
// n KV heads there). Checks every shape, and that pre-RoPE key maps commute
// with RoPE; on error `weights` is unchanged.
absl::Status ApplyLayerProjection(const LayerProjection& projection, int layer,
                                  runtime::ModelWeights* weights);

// Checks that `projections` was made for `weights` (digest and shapes, with
// a message saying which differs), then applies every layer.
absl::Status ApplyProjections(const Projections& projections,
                              runtime::ModelWeights* weights);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_APPLY_H_
