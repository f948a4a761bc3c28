// Rope and the SVD-a post-RoPE projections on the GPU.
#include <cublas_v2.h>

#include "runtime/cuda/cuda_ops.h"
#include "runtime/cuda/cuda_status.h"

namespace headroom::runtime::cuda {

absl::Status CudaOps::Rope(int layer) {
  const DeviceLayer& dl = layers_[layer];
  const ModelConfig& c = config_;
  const int64_t width = QkvWidth(dl);
  float* q = qkv_.as<float>();
  float* k = q + int64_t{c.n_heads} * c.head_dim;
  const int32_t* positions = meta() + positions_offset_;
  const bool half_pairing = c.rope_style == RopeStyle::kHalf;
  const float* inv_freq = rope_inv_freq_.as<float>();
  HEADROOM_CUDA_RETURN_IF_ERROR(ApplyRope(q, num_tokens_, c.n_heads, c.head_dim,
                                          width, positions, inv_freq,
                                          half_pairing, stream_.get()));
  HEADROOM_CUDA_RETURN_IF_ERROR(ApplyRope(k, num_tokens_, dl.nk, c.head_dim,
                                          width, positions, inv_freq,
                                          half_pairing, stream_.get()));
  return absl::OkStatus();
}

// k~_i = P_K,i [k_it; ...; k_it+t-1] and q~_j = Q_j q_j as strided batched
// GEMMs (one matrix per cached head, one per query head).
absl::Status CudaOps::ProjectPostRope(int layer) {
  const DeviceLayer& dl = layers_[layer];
  const int d = config_.head_dim, h = config_.n_heads;
  const int width = static_cast<int>(QkvWidth(dl));
  const float* q = qkv_.as<float>();
  const float* k = q + int64_t{h} * d;
  const int td = dl.nk / dl.g * d;
  const float one = 1.0f, zero = 0.0f;
  HEADROOM_CUBLAS_RETURN_IF_ERROR(cublasSgemmStridedBatched(
      cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, d, num_tokens_, td, &one,
      dl.key_cache_proj.as<float>(), td, int64_t{d} * td, k, width, td, &zero,
      k_proj_.as<float>(), dl.g * d, d, dl.g));
  HEADROOM_CUBLAS_RETURN_IF_ERROR(cublasSgemmStridedBatched(
      cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, d, num_tokens_, d, &one,
      dl.query_proj.as<float>(), d, int64_t{d} * d, q, width, d, &zero,
      q_proj_.as<float>(), h * d, d, h));
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cuda
