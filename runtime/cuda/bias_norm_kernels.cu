// Bias addition and per-head RMSNorm on fp32 activations (kernels.h).
#include <cstdint>

#include "runtime/cuda/kernels.h"
#include "runtime/cuda/lowp.cuh"

namespace headroom::runtime::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void AddBiasKernel(float* x, int64_t rows, int cols,
                              int64_t row_stride, const float* bias) {
  const int64_t total = rows * cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / cols;
    const int c = static_cast<int>(i % cols);
    x[r * row_stride + c] += bias[c];
  }
}

// One warp per (token, head): sum of squares over the head, then scale.
__global__ void HeadRmsNormKernel(float* x, int num_tokens, int num_heads,
                                  int head_dim, int64_t row_stride,
                                  const float* w, float eps) {
  const int64_t warp_id = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp_id >= int64_t{num_tokens} * num_heads) return;
  const int64_t t = warp_id / num_heads;
  const int head = static_cast<int>(warp_id % num_heads);
  float* v = x + t * row_stride + int64_t{head} * head_dim;
  float ss = 0.0f;
  for (int i = lane; i < head_dim; i += 32) ss += v[i] * v[i];
  for (int o = 16; o > 0; o /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  const float inv = rsqrtf(ss / head_dim + eps);
  for (int i = lane; i < head_dim; i += 32) v[i] = w[i] * (v[i] * inv);
}

}  // namespace

cudaError_t AddBias(float* x, int64_t rows, int cols, int64_t row_stride,
                    const float* bias, cudaStream_t stream) {
  const int64_t total = rows * cols;
  if (total == 0) return cudaSuccess;
  AddBiasKernel<<<GridFor(total, kThreads), kThreads, 0, stream>>>(
      x, rows, cols, row_stride, bias);
  return cudaGetLastError();
}

cudaError_t HeadRmsNorm(float* x, int num_tokens, int num_heads, int head_dim,
                        int64_t row_stride, const float* w, float eps,
                        cudaStream_t stream) {
  const int64_t threads = int64_t{num_tokens} * num_heads * 32;
  if (threads == 0) return cudaSuccess;
  const int64_t blocks = (threads + kThreads - 1) / kThreads;
  HeadRmsNormKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      x, num_tokens, num_heads, head_dim, row_stride, w, eps);
  return cudaGetLastError();
}

}  // namespace headroom::runtime::cuda
