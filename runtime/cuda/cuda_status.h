// CUDA and cuBLAS results as absl::Status, naming the call that failed.
#ifndef HEADROOM_RUNTIME_CUDA_CUDA_STATUS_H_
#define HEADROOM_RUNTIME_CUDA_CUDA_STATUS_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "absl/status/status.h"

namespace headroom::runtime::cuda {

// OK for cudaSuccess; otherwise "cuda: <call>: <error name>: <description>"
// (out-of-memory becomes ResourceExhausted).
absl::Status CudaStatus(cudaError_t error, const char* call);
absl::Status CublasStatus(cublasStatus_t status, const char* call);

}  // namespace headroom::runtime::cuda

// Returns from the enclosing function (absl::Status or StatusOr) when the
// CUDA / cuBLAS call fails; the message quotes the call's source text.
#define HEADROOM_CUDA_RETURN_IF_ERROR(expr)                       \
  do {                                                            \
    if (absl::Status _headroom_cuda_status =                      \
            ::headroom::runtime::cuda::CudaStatus((expr), #expr); \
        !_headroom_cuda_status.ok())                              \
      return _headroom_cuda_status;                               \
  } while (0)
#define HEADROOM_CUBLAS_RETURN_IF_ERROR(expr)                       \
  do {                                                              \
    if (absl::Status _headroom_cublas_status =                      \
            ::headroom::runtime::cuda::CublasStatus((expr), #expr); \
        !_headroom_cublas_status.ok())                              \
      return _headroom_cublas_status;                               \
  } while (0)

#endif  // HEADROOM_RUNTIME_CUDA_CUDA_STATUS_H_
