// Paged GQA attention (kernels.h): one block per (work item, KV head).
//
// A work item is a tile of query rows r = (token, head) of one sequence and
// one GQA group, and a range of key positions. The block stages the range's
// keys and values kAttentionKeysPerTile at a time from the pages into shared
// memory (each page row read once from global memory for all rows of the
// tile) and keeps, per row, the online-softmax state of FlashAttention:
//   m = max score so far, l = sum exp(s - m), acc = sum exp(s - m) v.
// A second kernel combines the split-K partials of each (token, head):
//   M = max_s m_s, out = sum_s acc_s e^(m_s - M) / sum_s l_s e^(m_s - M).
#include <cmath>
#include <cstdint>

#include "runtime/cuda/kernels.h"
#include "runtime/cuda/lowp.cuh"

namespace headroom::runtime::cuda {
namespace {

// At most four warps a block; fewer when the step's tiles have fewer rows
// (decode of an MHA layout has one row a tile), so no warp idles.
constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kKeys = kAttentionKeysPerTile;
static_assert(kKeys == 32, "one key per lane in the score step");
static_assert(kAttentionSplitKeys % kKeys == 0);

__device__ __forceinline__ float WarpMax(float v) {
  for (int o = 16; o > 0; o /= 2) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  }
  return v;
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Shared memory layout, in floats, for head dim d and R rows:
//   q [R][d] (pre-scaled), acc [R][d], k [kKeys][d + 1] (padded: lane j
//   reads row j, conflict-free), v [kKeys][d], p [kWarps][kKeys], m [R],
//   l [R].
__host__ __device__ inline int SharedFloats(int d, int rows) {
  return 2 * rows * d + kKeys * (d + 1) + kKeys * d + kWarps * kKeys + 2 * rows;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    PagedAttentionKernel(PagedAttentionParams p) {
  extern __shared__ float smem[];
  const AttentionWorkItem item = p.items[blockIdx.x];
  const int kv = blockIdx.y;
  const int d = p.head_dim;
  const int group = p.num_heads / p.kv_heads;
  const int rows = item.num_tokens * item.num_heads;
  const int R = p.max_rows;
  float* q_s = smem;
  float* acc_s = q_s + R * d;
  float* k_s = acc_s + R * d;
  float* v_s = k_s + kKeys * (d + 1);
  float* p_s = v_s + kKeys * d;
  float* m_s = p_s + kWarps * kKeys;
  float* l_s = m_s + R;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int num_warps = blockDim.x / 32;

  // Row r serves token token_begin + r / num_heads and query head
  // kv * group + head_begin + r % num_heads.
  for (int i = threadIdx.x; i < rows * d; i += blockDim.x) {
    const int r = i / d, e = i % d;
    const int64_t t = item.token_begin + r / item.num_heads;
    const int j = kv * group + item.head_begin + r % item.num_heads;
    q_s[i] = p.q[t * p.q_stride + int64_t{j} * d + e] * p.scale;
    acc_s[i] = 0.0f;
  }
  for (int r = threadIdx.x; r < rows; r += blockDim.x) {
    m_s[r] = -INFINITY;
    l_s[r] = 0.0f;
  }

  const T* k_cache = static_cast<const T*>(p.k_cache);
  const T* v_cache = static_cast<const T*>(p.v_cache);
  const int32_t* table = p.block_tables + item.table_offset;
  const int64_t head_stride = int64_t{p.block_size} * d;
  const int64_t page_stride = head_stride * p.kv_heads;
  const int vecs_per_key = d / 8;  // 16-byte loads of 8 values
  float* p_w = p_s + warp * kKeys;

  for (int tile = item.key_begin; tile < item.key_end; tile += kKeys) {
    const int n = min(kKeys, item.key_end - tile);
    __syncthreads();  // the previous tile is consumed (first: init is done)
    for (int i = threadIdx.x; i < n * vecs_per_key; i += blockDim.x) {
      const int key = i / vecs_per_key, e0 = (i % vecs_per_key) * 8;
      const int pos = tile + key;
      const int64_t page = table[pos / p.block_size];
      const int64_t off = page * page_stride + kv * head_stride +
                          int64_t{pos % p.block_size} * d + e0;
      const uint4 k_raw = *reinterpret_cast<const uint4*>(k_cache + off);
      const uint4 v_raw = *reinterpret_cast<const uint4*>(v_cache + off);
      const T* k8 = reinterpret_cast<const T*>(&k_raw);
      const T* v8 = reinterpret_cast<const T*>(&v_raw);
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        k_s[key * (d + 1) + e0 + u] = ToFloat(k8[u]);
        v_s[key * d + e0 + u] = ToFloat(v8[u]);
      }
    }
    __syncthreads();

    for (int r = warp; r < rows; r += num_warps) {
      const int t = item.token_begin + r / item.num_heads;
      const int pos_r = p.positions[t];  // causal: keys 0..pos_r
      const int key_pos = tile + lane;
      const bool in_window = p.window <= 0 || key_pos > pos_r - p.window;
      float s = -INFINITY;
      if (lane < n && key_pos <= pos_r && in_window) {
        const float* qr = q_s + r * d;
        const float* kr = k_s + lane * (d + 1);
        float dot = 0.0f;
        for (int e = 0; e < d; ++e) dot += qr[e] * kr[e];
        s = dot;
      }
      const float tile_max = WarpMax(s);
      if (tile_max == -INFINITY) continue;  // uniform over the warp
      const float m_old = m_s[r];
      const float m_new = fmaxf(m_old, tile_max);
      const float pj = s == -INFINITY ? 0.0f : __expf(s - m_new);
      const float corr = m_old == -INFINITY ? 0.0f : __expf(m_old - m_new);
      const float p_sum = WarpSum(pj);
      p_w[lane] = pj;
      __syncwarp();
      float* ar = acc_s + r * d;
      for (int e = lane; e < d; e += 32) {
        float a = ar[e] * corr;
        for (int j = 0; j < n; ++j) a += p_w[j] * v_s[j * d + e];
        ar[e] = a;
      }
      __syncwarp();  // every lane has read m_s[r], l_s[r] and p_w
      if (lane == 0) {
        m_s[r] = m_new;
        l_s[r] = l_s[r] * corr + p_sum;
      }
      __syncwarp();
    }
  }
  __syncthreads();

  const int width = d + 2;
  for (int i = threadIdx.x; i < rows * width; i += blockDim.x) {
    const int r = i / width, e = i % width;
    const int64_t t = item.token_begin + r / item.num_heads;
    const int j = kv * group + item.head_begin + r % item.num_heads;
    float* dst =
        p.partial +
        ((t * p.num_heads + j) * p.max_splits + item.split) * int64_t{width};
    dst[e] = e < d ? acc_s[r * d + e] : (e == d ? m_s[r] : l_s[r]);
  }
}

template <typename T>
__global__ void CombineSplitsKernel(PagedAttentionParams p) {
  const int64_t t = blockIdx.x / p.num_heads;
  const int j = blockIdx.x % p.num_heads;
  const int d = p.head_dim, width = d + 2;
  const int splits = p.num_splits[t];
  const float* base =
      p.partial + (t * p.num_heads + j) * p.max_splits * int64_t{width};
  float m_max = -INFINITY;
  for (int s = 0; s < splits; ++s) m_max = fmaxf(m_max, base[s * width + d]);
  float l_sum = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float m = base[s * width + d];
    if (m != -INFINITY) l_sum += base[s * width + d + 1] * __expf(m - m_max);
  }
  // A token's own position is always visible, so some split has m > -inf
  // and l >= 1.
  const float inv_l = 1.0f / l_sum;
  T* out = static_cast<T*>(p.out) + (t * p.num_heads + j) * int64_t{d};
  for (int e = threadIdx.x; e < d; e += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float m = base[s * width + d];
      if (m != -INFINITY) acc += base[s * width + e] * __expf(m - m_max);
    }
    out[e] = FromFloat<T>(acc * inv_l);
  }
}

}  // namespace

int PagedAttentionSharedBytes(int head_dim, int max_rows) {
  return SharedFloats(head_dim, max_rows) * static_cast<int>(sizeof(float));
}

cudaError_t SetPagedAttentionSharedLimit(int bytes) {
  cudaError_t e =
      cudaFuncSetAttribute(PagedAttentionKernel<__half>,
                           cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (e != cudaSuccess) return e;
  return cudaFuncSetAttribute(PagedAttentionKernel<__nv_bfloat16>,
                              cudaFuncAttributeMaxDynamicSharedMemorySize,
                              bytes);
}

cudaError_t PagedAttention(const PagedAttentionParams& params,
                           cudaStream_t stream) {
  if (params.num_items == 0 || params.num_tokens == 0) return cudaSuccess;
  const int shared =
      PagedAttentionSharedBytes(params.head_dim, params.max_rows);
  return DispatchLowp(params.dtype, [&](auto tag) {
    using T = decltype(tag);
    const dim3 grid(params.num_items, params.kv_heads);
    const int warps = params.max_rows < kWarps ? params.max_rows : kWarps;
    PagedAttentionKernel<T><<<grid, 32 * warps, shared, stream>>>(params);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    // One thread per output coordinate (at least a warp, at most 256).
    const int threads = params.head_dim < 32    ? 32
                        : params.head_dim > 256 ? 256
                                                : params.head_dim;
    const int rows = params.num_tokens * params.num_heads;
    CombineSplitsKernel<T><<<rows, threads, 0, stream>>>(params);
    return cudaGetLastError();
  });
}

}  // namespace headroom::runtime::cuda
