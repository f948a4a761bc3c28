// Decoder: the LLaMA-family forward pass, written once over DeviceOps
// (runtime/ops/device_ops.h). It is the Backend of every device: the CPU
// and CUDA backends are a Decoder over that device's ops.
//
//   x = embed(tokens)
//   per layer:  xb = RMSNorm(x);  q, k, v = xb W_Q^T, xb W_K^T, xb W_V^T
//               [+ b_Q, b_K, b_V]  [q, k = per-head RMSNorm (Qwen3)]
//               q, k = RoPE(q), RoPE(k)      [SVD-a: q~, k~ projected after]
//               cache <- k, v;  x += attention(q, cache) W_O^T [+ b_O]
//               xb = RMSNorm(x);  x += (silu(xb W_1^T) * xb W_3^T) W_2^T
//               [biases b_1, b_3, b_2 with mlp_bias]
//   logits = RMSNorm(x) W_cls^T   (rows that want them)
#ifndef HEADROOM_RUNTIME_MODEL_DECODER_H_
#define HEADROOM_RUNTIME_MODEL_DECODER_H_

#include <functional>
#include <memory>

#include "runtime/backend.h"
#include "runtime/ops/device_ops.h"

namespace headroom::runtime {

// A Backend running the forward pass on `ops` (owned).
std::unique_ptr<Backend> CreateDecoder(std::unique_ptr<DeviceOps> ops);

// What a layer's run reports to its caller: time spent in projections and
// in attention (nullptr: not timed), and a callback once kNormed, kQueries,
// kKeys and kValues hold the layer's attention inputs (nullptr: none).
struct LayerHooks {
  double* gemm_seconds = nullptr;
  double* attention_seconds = nullptr;
  std::function<absl::Status()> after_qkv;
};

// One layer of the forward pass on the step's kResidual, in place: the
// decoder runs it for every layer, calibration (compress/calibration.h)
// for one layer of every calibration sequence at a time.
absl::Status RunLayer(DeviceOps& ops, int layer, const LayerHooks& hooks);

// The two halves of a layer's attention, shared by the decoder and by the
// compressor's layer-by-layer evaluation (compress/layer_attention.h):
// kQueries, kKeys, kValues from kNormed (projections, biases, per-head
// norms, RoPE) ...
absl::Status ComputeQueriesKeysValues(DeviceOps& ops, int layer);
// ... then SVD-a's post-RoPE projections where the layer has them, the
// cache write and attention into kAttention.
absl::Status AttendOverCache(DeviceOps& ops, int layer);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_MODEL_DECODER_H_
