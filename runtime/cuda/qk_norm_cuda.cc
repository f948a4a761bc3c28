// QkNorm on the GPU: RMSNorm of every query and key head (Qwen3), in place.
#include "runtime/cuda/cuda_ops.h"
#include "runtime/cuda/cuda_status.h"

namespace headroom::runtime::cuda {

absl::Status CudaOps::QkNorm(int layer) {
  const DeviceLayer& dl = layers_[layer];
  const ModelConfig& c = config_;
  const int64_t width = QkvWidth(dl);
  float* q = qkv_.as<float>();
  float* k = q + int64_t{c.n_heads} * c.head_dim;
  HEADROOM_CUDA_RETURN_IF_ERROR(
      HeadRmsNorm(q, num_tokens_, c.n_heads, c.head_dim, width,
                  dl.q_norm.as<float>(), c.norm_eps, stream_.get()));
  HEADROOM_CUDA_RETURN_IF_ERROR(HeadRmsNorm(k, num_tokens_, dl.nk, c.head_dim,
                                            width, dl.k_norm.as<float>(),
                                            c.norm_eps, stream_.get()));
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cuda
