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

#include <memory>

#include "runtime/backend.h"
#include "runtime/ops/device_ops.h"

namespace headroom::runtime {

// A Backend running the forward pass on `ops` (owned).
std::unique_ptr<Backend> CreateDecoder(std::unique_ptr<DeviceOps> ops);

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
