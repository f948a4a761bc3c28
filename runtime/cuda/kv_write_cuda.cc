// WriteKvCache on the GPU: each token's key and value rows, narrowed to the
// pages' lowp type, into its slot.
#include "runtime/cuda/cuda_ops.h"
#include "runtime/cuda/cuda_status.h"

namespace headroom::runtime::cuda {

absl::Status CudaOps::WriteKvCache(int layer) {
  const DeviceLayer& dl = layers_[layer];
  const int d = config_.head_dim;
  const int64_t width = QkvWidth(dl);
  const float* q = qkv_.as<float>();
  const float* k = q + int64_t{config_.n_heads} * d;
  const float* v = k + int64_t{dl.nk} * d;
  const float* keys = dl.post_rope_proj ? k_proj_.as<float>() : k;
  const int64_t k_stride = dl.post_rope_proj ? int64_t{dl.g} * d : width;
  HEADROOM_CUDA_RETURN_IF_ERROR(
      cuda::WriteKvCache(dtype_, keys, k_stride, v, width, num_tokens_, dl.g, d,
                         block_size_, meta() + slots_offset_, dl.k_cache.get(),
                         dl.v_cache.get(), stream_.get()));
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cuda
