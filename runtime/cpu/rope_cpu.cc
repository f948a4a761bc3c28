// Rope and the SVD-a post-RoPE projections on the CPU.
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cpu/matmul.h"

namespace headroom::runtime::cpu {

absl::Status CpuOps::Rope(int layer) {
  const ModelConfig& c = w_.config;
  const int64_t q_width = Columns(Activation::kQueries, layer);
  const int64_t k_width = Columns(Activation::kKeys, layer);
  const int d = c.head_dim;
  for (int t = 0; t < num_tokens_; ++t) {
    const int pos = batch_->positions[t];
    ApplyRope(queries_.data() + t * q_width, static_cast<int>(q_width / d), d,
              pos, rope_inv_freq_.data(), c.rope_style);
    ApplyRope(keys_.data() + t * k_width, static_cast<int>(k_width / d), d, pos,
              rope_inv_freq_.data(), c.rope_style);
  }
  return absl::OkStatus();
}

// k~_i = P_K,i [k_it; ...; k_it+t-1] for each cached head i (t = nk / g)
// and q~_j = Q_j q_j for each query head j: per-head MatMuls over strided
// rows.
absl::Status CpuOps::ProjectPostRope(int layer) {
  const ModelConfig& c = w_.config;
  const LayerWeights& lw = w_.layers[layer];
  const int d = c.head_dim, h = c.n_heads, nk = c.n_kv_heads;
  const int g = c.CacheKvHeads(layer);
  const int t_group = nk / g;
  for (int i = 0; i < g; ++i) {
    MatMul(pool_, num_tokens_, d, t_group * d,
           keys_.data() + int64_t{i} * t_group * d, int64_t{nk} * d,
           lw.key_cache_proj.data() + int64_t{i} * d * t_group * d, t_group * d,
           keys_projected_.data() + int64_t{i} * d, int64_t{g} * d);
  }
  for (int j = 0; j < h; ++j) {
    MatMul(pool_, num_tokens_, d, d, queries_.data() + int64_t{j} * d,
           int64_t{h} * d, lw.query_proj.data() + int64_t{j} * d * d, d,
           queries_projected_.data() + int64_t{j} * d, int64_t{h} * d);
  }
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cpu
