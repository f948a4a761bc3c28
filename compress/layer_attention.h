// One layer alone on the serving path's CPU ops: a one-layer model whose
// tensors are the layer's own (shared, not copied), run over one sequence
// at a time. Calibration runs each layer so (compress/calibration.h), and
// single-sequence attention measures what a projection does to a layer's
// output on calibration activations (refit and `auto`).
#ifndef HEADROOM_COMPRESS_LAYER_ATTENTION_H_
#define HEADROOM_COMPRESS_LAYER_ATTENTION_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/batch.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_weights.h"

namespace headroom::compress {

// Layer weights `lw` of a model of `config` as a model of one layer (its
// layer 0) caching `cache_kv_heads` KV heads, with a KV cache for one
// sequence of up to `max_tokens` tokens and `embedding` (may be empty: no
// Embed) for a first layer.
absl::StatusOr<std::unique_ptr<runtime::cpu::CpuOps>> OneLayerCpuOps(
    const runtime::ModelConfig& config, const runtime::LayerWeights& lw,
    int cache_kv_heads, int max_tokens, int threads,
    const runtime::Tensor& embedding);

// One sequence's step on such ops: `ids` at positions 0.., over every page.
runtime::Batch OneSequenceBatch(const runtime::cpu::CpuOps& ops,
                                const std::vector<int>& ids);

// Per-head attention outputs [T, h*d] (before W_O) of layer `layer` with
// weights `lw` and `cache_kv_heads` cached heads, for one sequence whose
// RMS-normed attention inputs are `xb` [T, D] at positions 0..T-1.
absl::Status DenseLayerAttention(const runtime::ModelConfig& config, int layer,
                                 const runtime::LayerWeights& lw,
                                 int cache_kv_heads, const float* xb, int T,
                                 std::vector<float>* out);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_LAYER_ATTENTION_H_
