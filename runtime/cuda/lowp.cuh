// Device conversions between fp32 and the low-precision storage types, and
// the dispatch from DType to a kernel template argument.
#ifndef HEADROOM_RUNTIME_CUDA_LOWP_CUH_
#define HEADROOM_RUNTIME_CUDA_LOWP_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "runtime/cuda/kernels.h"

namespace headroom::runtime::cuda {

__device__ __forceinline__ float ToFloat(__half x) { return __half2float(x); }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

template <typename T>
__device__ __forceinline__ T FromFloat(float x);
template <>
__device__ __forceinline__ __half FromFloat<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

// Calls fn(T{}) with T = __half or __nv_bfloat16 by `dtype`.
template <typename Fn>
cudaError_t DispatchLowp(DType dtype, Fn&& fn) {
  if (dtype == DType::kFloat16) return fn(__half{});
  return fn(__nv_bfloat16{});
}

// Blocks of `threads` covering n items, for grid-stride loops.
inline unsigned int GridFor(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned int>(blocks < 65535 * 16 ? blocks : 65535 * 16);
}

}  // namespace headroom::runtime::cuda

#endif  // HEADROOM_RUNTIME_CUDA_LOWP_CUH_
