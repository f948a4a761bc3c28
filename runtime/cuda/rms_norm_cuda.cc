// RmsNorm and FinalNorm on the GPU: fp32 residual rows in, the GEMMs' lowp
// input out.
#include "runtime/cuda/cuda_ops.h"
#include "runtime/cuda/cuda_status.h"

namespace headroom::runtime::cuda {

absl::Status CudaOps::RmsNorm(int layer, LayerNorm norm) {
  const DeviceLayer& dl = layers_[layer];
  const DeviceBuffer& w =
      norm == LayerNorm::kAttention ? dl.rms_att : dl.rms_ffn;
  HEADROOM_CUDA_RETURN_IF_ERROR(
      cuda::RmsNorm(dtype_, x_.as<float>(), nullptr, num_tokens_, config_.dim,
                    w.as<float>(), config_.norm_eps, xb_.get(), stream_.get()));
  return absl::OkStatus();
}

absl::Status CudaOps::FinalNorm() {
  HEADROOM_CUDA_RETURN_IF_ERROR(
      cuda::RmsNorm(dtype_, x_.as<float>(), meta() + out_rows_offset_,
                    num_outputs_, config_.dim, rms_final_.as<float>(),
                    config_.norm_eps, out_x_.get(), stream_.get()));
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cuda
