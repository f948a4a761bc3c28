// Embed on the GPU: gathers each token's embedding row, widened to fp32.
#include "runtime/cuda/cuda_ops.h"
#include "runtime/cuda/cuda_status.h"

namespace headroom::runtime::cuda {

absl::Status CudaOps::Embed() {
  HEADROOM_CUDA_RETURN_IF_ERROR(
      EmbeddingGather(dtype_, embedding_.get(), meta() + ids_offset_,
                      num_tokens_, config_.dim, x_.as<float>(), stream_.get()));
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cuda
