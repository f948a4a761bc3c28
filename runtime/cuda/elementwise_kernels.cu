// Embedding, RMSNorm, RoPE, SiLU-mul, cache writes and fills (kernels.h).
#include <cstdint>

#include "runtime/cuda/kernels.h"
#include "runtime/cuda/lowp.cuh"

namespace headroom::runtime::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void EmbeddingGatherKernel(const T* table, const int32_t* ids,
                                      int dim, float* x) {
  const int t = blockIdx.x;
  const T* row = table + static_cast<int64_t>(ids[t]) * dim;
  float* out = x + static_cast<int64_t>(t) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) out[i] = ToFloat(row[i]);
}

// Sum over the block of `v` (blockDim.x a multiple of 32, at most 1024).
__device__ float BlockSum(float v) {
  __shared__ float warp_sums[32];
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  const int num_warps = blockDim.x / 32;
  float total = 0.0f;
  for (int w = 0; w < num_warps; ++w) total += warp_sums[w];
  __syncthreads();  // warp_sums reusable by the caller's next BlockSum
  return total;
}

template <typename T>
__global__ void RmsNormKernel(const float* x, const int32_t* rows, int dim,
                              const float* w, float eps, T* out) {
  const int r = blockIdx.x;
  const int64_t src = rows != nullptr ? rows[r] : r;
  const float* xr = x + src * dim;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  ss = BlockSum(ss);
  const float inv = rsqrtf(ss / dim + eps);
  T* o = out + static_cast<int64_t>(r) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    o[i] = FromFloat<T>(w[i] * (xr[i] * inv));
  }
}

// One thread per (token, head, pair). The frequencies come from the host
// (the CPU backend's float arithmetic) and angle = pos * freq is computed in
// float as there, with accurate sincosf (no fast math) so long contexts keep
// their precision.
__global__ void RopeKernel(float* x, int num_tokens, int num_heads,
                           int head_dim, int64_t row_stride,
                           const int32_t* positions, const float* inv_freq,
                           bool half_pairing) {
  const int half = head_dim / 2;
  const int64_t total = static_cast<int64_t>(num_tokens) * num_heads * half;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int p = static_cast<int>(i % half);
    const int head = static_cast<int>((i / half) % num_heads);
    const int t = static_cast<int>(i / (int64_t{half} * num_heads));
    const float angle = static_cast<float>(positions[t]) * inv_freq[p];
    float s, c;
    sincosf(angle, &s, &c);
    float* v = x + t * row_stride + int64_t{head} * head_dim;
    const int ia = half_pairing ? p : 2 * p;
    const int ib = half_pairing ? p + half : 2 * p + 1;
    const float a = v[ia], b = v[ib];
    v[ia] = a * c - b * s;
    v[ib] = a * s + b * c;
  }
}

template <typename T>
__global__ void SiluMulKernel(const float* gate_up, int num_tokens, int hidden,
                              T* out) {
  const int64_t total = static_cast<int64_t>(num_tokens) * hidden;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = i / hidden, j = i % hidden;
    const float g = gate_up[t * 2 * hidden + j];
    const float u = gate_up[t * 2 * hidden + hidden + j];
    out[i] = FromFloat<T>(g / (1.0f + expf(-g)) * u);
  }
}

template <typename T>
__global__ void ToLowpKernel(const float* in, int64_t n, T* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = FromFloat<T>(in[i]);
  }
}

// SplitMix64 finalizer: a counter-based generator, so fills are reproducible
// whatever the launch shape.
__device__ uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <typename T>
__global__ void FillUniformKernel(T* out, int64_t n, float scale,
                                  uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const uint64_t bits = Mix64(seed + 0x9e3779b97f4a7c15ull * (i + 1));
    const float u = (bits >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    out[i] = FromFloat<T>((2.0f * u - 1.0f) * scale);
  }
}

__global__ void FillConstantKernel(float* out, int64_t n, float value) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = value;
  }
}

template <typename T>
__global__ void WriteKvCacheKernel(const float* k, int64_t k_stride,
                                   const float* v, int64_t v_stride,
                                   int kv_heads, int head_dim, int block_size,
                                   const int32_t* slots, T* k_cache,
                                   T* v_cache) {
  const int t = blockIdx.x;
  const int slot = slots[t];
  const int64_t page = slot / block_size, offset = slot % block_size;
  for (int i = threadIdx.x; i < kv_heads * head_dim; i += blockDim.x) {
    const int head = i / head_dim, e = i % head_dim;
    const int64_t dst =
        ((page * kv_heads + head) * block_size + offset) * head_dim + e;
    k_cache[dst] = FromFloat<T>(k[t * k_stride + i]);
    v_cache[dst] = FromFloat<T>(v[t * v_stride + i]);
  }
}

}  // namespace

cudaError_t EmbeddingGather(DType dtype, const void* table, const int32_t* ids,
                            int num_tokens, int dim, float* x,
                            cudaStream_t stream) {
  if (num_tokens == 0) return cudaSuccess;
  return DispatchLowp(dtype, [&](auto tag) {
    using T = decltype(tag);
    EmbeddingGatherKernel<T><<<num_tokens, kThreads, 0, stream>>>(
        static_cast<const T*>(table), ids, dim, x);
    return cudaGetLastError();
  });
}

cudaError_t RmsNorm(DType dtype, const float* x, const int32_t* rows,
                    int num_rows, int dim, const float* w, float eps, void* out,
                    cudaStream_t stream) {
  if (num_rows == 0) return cudaSuccess;
  return DispatchLowp(dtype, [&](auto tag) {
    using T = decltype(tag);
    RmsNormKernel<T><<<num_rows, kThreads, 0, stream>>>(x, rows, dim, w, eps,
                                                        static_cast<T*>(out));
    return cudaGetLastError();
  });
}

cudaError_t ApplyRope(float* x, int num_tokens, int num_heads, int head_dim,
                      int64_t row_stride, const int32_t* positions,
                      const float* inv_freq, bool half_pairing,
                      cudaStream_t stream) {
  const int64_t total = int64_t{num_tokens} * num_heads * (head_dim / 2);
  if (total == 0) return cudaSuccess;
  RopeKernel<<<GridFor(total, kThreads), kThreads, 0, stream>>>(
      x, num_tokens, num_heads, head_dim, row_stride, positions, inv_freq,
      half_pairing);
  return cudaGetLastError();
}

cudaError_t SiluMul(DType dtype, const float* gate_up, int num_tokens,
                    int hidden, void* out, cudaStream_t stream) {
  const int64_t total = int64_t{num_tokens} * hidden;
  if (total == 0) return cudaSuccess;
  return DispatchLowp(dtype, [&](auto tag) {
    using T = decltype(tag);
    SiluMulKernel<T><<<GridFor(total, kThreads), kThreads, 0, stream>>>(
        gate_up, num_tokens, hidden, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

cudaError_t ToLowPrecision(DType dtype, const float* in, int64_t n, void* out,
                           cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return DispatchLowp(dtype, [&](auto tag) {
    using T = decltype(tag);
    ToLowpKernel<T><<<GridFor(n, kThreads), kThreads, 0, stream>>>(
        in, n, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

cudaError_t FillUniform(DType dtype, void* out, int64_t n, float scale,
                        uint64_t seed, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return DispatchLowp(dtype, [&](auto tag) {
    using T = decltype(tag);
    FillUniformKernel<T><<<GridFor(n, kThreads), kThreads, 0, stream>>>(
        static_cast<T*>(out), n, scale, seed);
    return cudaGetLastError();
  });
}

cudaError_t FillConstantFloat(float* out, int64_t n, float value,
                              cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  FillConstantKernel<<<GridFor(n, kThreads), kThreads, 0, stream>>>(out, n,
                                                                    value);
  return cudaGetLastError();
}

cudaError_t WriteKvCache(DType dtype, const float* k, int64_t k_stride,
                         const float* v, int64_t v_stride, int num_tokens,
                         int kv_heads, int head_dim, int block_size,
                         const int32_t* slots, void* k_cache, void* v_cache,
                         cudaStream_t stream) {
  if (num_tokens == 0) return cudaSuccess;
  return DispatchLowp(dtype, [&](auto tag) {
    using T = decltype(tag);
    WriteKvCacheKernel<T><<<num_tokens, kThreads, 0, stream>>>(
        k, k_stride, v, v_stride, kv_heads, head_dim, block_size, slots,
        static_cast<T*>(k_cache), static_cast<T*>(v_cache));
    return cudaGetLastError();
  });
}

}  // namespace headroom::runtime::cuda
