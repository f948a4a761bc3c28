// Single-sequence attention of one layer, for measuring what a projection
// does to a layer's output on calibration activations (refit and `auto`),
// computed by the serving path's own ops.
#ifndef HEADROOM_COMPRESS_LAYER_ATTENTION_H_
#define HEADROOM_COMPRESS_LAYER_ATTENTION_H_

#include <vector>

#include "absl/status/status.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_weights.h"

namespace headroom::compress {

// Per-head attention outputs [T, h*d] (before W_O) of layer `layer` with
// weights `lw` and `cache_kv_heads` cached heads, for one sequence whose
// RMS-normed attention inputs are `xb` [T, D] at positions 0..T-1.
absl::Status DenseLayerAttention(const runtime::ModelConfig& config, int layer,
                                 const runtime::LayerWeights& lw,
                                 int cache_kv_heads, const float* xb, int T,
                                 std::vector<float>* out);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_LAYER_ATTENTION_H_
