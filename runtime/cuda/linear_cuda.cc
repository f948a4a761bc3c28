// The projections on the GPU: cuBLAS GEMMs over lowp inputs and weights with
// fp32 accumulation and output.
#include <cublas_v2.h>

#include "runtime/cuda/cuda_ops.h"
#include "runtime/cuda/cuda_status.h"

namespace headroom::runtime::cuda {

absl::Status CudaOps::Gemm(int m, int n, int k, const void* x, int ldx,
                           const void* w, float* c, int ldc, bool accumulate) {
  // Row-major C = X W^T is column-major C^T = W X^T: W's storage read as a
  // (k x n) column-major matrix, transposed.
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const cudaDataType_t type =
      dtype_ == DType::kBFloat16 ? CUDA_R_16BF : CUDA_R_16F;
  HEADROOM_CUBLAS_RETURN_IF_ERROR(
      cublasGemmEx(cublas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w,
                   type, k, x, type, ldx, &beta, c, CUDA_R_32F, ldc,
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  return absl::OkStatus();
}

absl::Status CudaOps::ProjectQkv(int layer) {
  const DeviceLayer& dl = layers_[layer];
  const int width = static_cast<int>(QkvWidth(dl));
  return Gemm(num_tokens_, width, config_.dim, xb_.get(), config_.dim,
              dl.wqkv.get(), qkv_.as<float>(), width, false);
}

absl::Status CudaOps::ProjectOutput(int layer) {
  const int hd = config_.n_heads * config_.head_dim;
  return Gemm(num_tokens_, config_.dim, hd, att_.get(), hd,
              layers_[layer].wo.get(), x_.as<float>(), config_.dim,
              /*accumulate=*/true);
}

absl::Status CudaOps::ProjectGateUp(int layer) {
  const int F = config_.hidden_dim;
  return Gemm(num_tokens_, 2 * F, config_.dim, xb_.get(), config_.dim,
              layers_[layer].w13.get(), gate_up_.as<float>(), 2 * F, false);
}

absl::Status CudaOps::SiluMul() {
  HEADROOM_CUDA_RETURN_IF_ERROR(cuda::SiluMul(dtype_, gate_up_.as<float>(),
                                              num_tokens_, config_.hidden_dim,
                                              act_.get(), stream_.get()));
  return absl::OkStatus();
}

absl::Status CudaOps::ProjectDown(int layer) {
  const int F = config_.hidden_dim;
  return Gemm(num_tokens_, config_.dim, F, act_.get(), F,
              layers_[layer].w2.get(), x_.as<float>(), config_.dim,
              /*accumulate=*/true);
}

absl::Status CudaOps::ComputeLogits() {
  const void* classifier =
      config_.tied_embeddings ? embedding_.get() : classifier_.get();
  return Gemm(num_outputs_, config_.vocab_size, config_.dim, out_x_.get(),
              config_.dim, classifier, logits_dev_.as<float>(),
              config_.vocab_size, false);
}

}  // namespace headroom::runtime::cuda
