// CUDA kernels of the forward pass. Plain C++ interface (no Abseil), so the
// .cu files compile with nvcc alone; every launcher returns the launch's
// cudaError_t and the caller turns it into an absl::Status naming it.
//
// Low-precision ("lowp") buffers hold fp16 or bf16 by `DType`; the residual
// stream, GEMM outputs, RoPE and softmax are fp32.
#ifndef HEADROOM_RUNTIME_CUDA_KERNELS_H_
#define HEADROOM_RUNTIME_CUDA_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "runtime/kv/paged_attention_plan.h"

namespace headroom::runtime::cuda {

enum class DType { kFloat16, kBFloat16 };

// Keys an attention block stages in shared memory at a time. Head dims
// must be a multiple of 8 (16-byte loads of a cache row) and at most
// kMaxHeadDim. Tiles, rows and splits: runtime/kv/paged_attention_plan.h.
inline constexpr int kAttentionKeysPerTile = 32;
inline constexpr int kMaxHeadDim = 256;
using ::headroom::runtime::AttentionWorkItem;
using ::headroom::runtime::kAttentionMaxRows;
using ::headroom::runtime::kAttentionSplitKeys;

// x[t, :] = table[ids[t], :] (lowp -> fp32), t < num_tokens.
cudaError_t EmbeddingGather(DType dtype, const void* table, const int32_t* ids,
                            int num_tokens, int dim, float* x,
                            cudaStream_t stream);

// out[r, :] = lowp(w * x_r / sqrt(mean(x_r^2) + eps)) where x_r is row
// rows[r] of x (row r when rows is null), r < num_rows.
cudaError_t RmsNorm(DType dtype, const float* x, const int32_t* rows,
                    int num_rows, int dim, const float* w, float eps, void* out,
                    cudaStream_t stream);

// Rotates `num_heads` heads of head_dim coordinates of each token in place
// (rows `row_stride` floats apart) by angle positions[t] * inv_freq[p] for
// pair p (inv_freq = theta^(-2p/d), computed on the host as the CPU backend
// does); pairs (2p, 2p+1), or (p, p + d/2) when `half_pairing`.
cudaError_t ApplyRope(float* x, int num_tokens, int num_heads, int head_dim,
                      int64_t row_stride, const int32_t* positions,
                      const float* inv_freq, bool half_pairing,
                      cudaStream_t stream);

// out[t, i] = lowp(silu(gate_up[t, i]) * gate_up[t, hidden + i]); gate_up is
// [num_tokens, 2 * hidden] (W_1 and W_3 outputs side by side).
// x[r * row_stride + c] += bias[c] for rows r, columns c (fp32, in place).
cudaError_t AddBias(float* x, int64_t rows, int cols, int64_t row_stride,
                    const float* bias, cudaStream_t stream);

// RMSNorm of each head of size head_dim of each token's row, in place, with
// one weight vector [head_dim] for every head (Qwen3's q_norm, k_norm).
cudaError_t HeadRmsNorm(float* x, int num_tokens, int num_heads, int head_dim,
                        int64_t row_stride, const float* w, float eps,
                        cudaStream_t stream);

cudaError_t SiluMul(DType dtype, const float* gate_up, int num_tokens,
                    int hidden, void* out, cudaStream_t stream);

// out[i] = lowp(in[i]).
cudaError_t ToLowPrecision(DType dtype, const float* in, int64_t n, void* out,
                           cudaStream_t stream);

// Deterministic uniform values in [-scale, scale] from (seed, index).
cudaError_t FillUniform(DType dtype, void* out, int64_t n, float scale,
                        uint64_t seed, cudaStream_t stream);
cudaError_t FillConstantFloat(float* out, int64_t n, float value,
                              cudaStream_t stream);

// Writes token t's keys and values (kv_heads x head_dim fp32, rows
// `k_stride` / `v_stride` floats apart) into the page slot slots[t] =
// page * block_size + offset. Cache layout of one layer:
// [num_blocks][kv_heads][block_size][head_dim], lowp: a (page, head) is one
// contiguous block_size * head_dim run, read once by attention.
cudaError_t WriteKvCache(DType dtype, const float* k, int64_t k_stride,
                         const float* v, int64_t v_stride, int num_tokens,
                         int kv_heads, int head_dim, int block_size,
                         const int32_t* slots, void* k_cache, void* v_cache,
                         cudaStream_t stream);

struct PagedAttentionParams {
  DType dtype = DType::kFloat16;
  const float* q = nullptr;  // [T, q_stride]: h heads of d, rotated
  int64_t q_stride = 0;
  const void* k_cache = nullptr;  // one layer, layout as WriteKvCache
  const void* v_cache = nullptr;
  const int32_t* positions = nullptr;     // [T]
  const int32_t* block_tables = nullptr;  // flattened, see table_offset
  const AttentionWorkItem* items = nullptr;
  int num_items = 0;
  const int32_t* num_splits = nullptr;  // [T]: key ranges of t's tile
  int num_tokens = 0;
  int num_heads = 0;  // h
  int kv_heads = 0;   // g_l
  int head_dim = 0;   // d
  int block_size = 0;
  int max_splits = 0;        // bound of num_splits
  int max_rows = 0;          // bound of num_tokens * num_heads over items
  float scale = 1.0f;        // 1 / sqrt(d)
  int window = 0;            // > 0: keys pos - window + 1 .. pos only
  float* partial = nullptr;  // [T, h, max_splits, d + 2]: acc, m, l
  void* out = nullptr;       // [T, h * d] lowp
};

// Shared memory one attention block needs for `max_rows` rows.
int PagedAttentionSharedBytes(int head_dim, int max_rows);
// Raises the attention kernels' dynamic shared memory limit to `bytes`.
cudaError_t SetPagedAttentionSharedLimit(int bytes);

// Flash-style attention with an online softmax over the key tiles of each
// work item (split-K partials), then a combine over the splits. Each K/V page
// tile is read once per block for all its query rows: all t = h / g_l query
// heads of a group (GQA) and, in prefill, several query tokens.
cudaError_t PagedAttention(const PagedAttentionParams& params,
                           cudaStream_t stream);

}  // namespace headroom::runtime::cuda

#endif  // HEADROOM_RUNTIME_CUDA_KERNELS_H_
