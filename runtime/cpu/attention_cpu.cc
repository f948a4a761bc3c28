// Attention on the CPU: paged, causal, grouped as GQA shares the cache.
#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cpu/matmul.h"

namespace headroom::runtime::cpu {

// Scaled dot-product attention of every (token, query head) over the
// sequence's cached positions 0..pos (the last `sliding_window` of them
// when the model has one): query heads kv * t .. kv * t + t - 1
// (t = h / g_l) read cache head kv, so each (token, cache head) reads its
// keys and values once for all t heads. The scores of a page are a MatMul
// of the t queries against the page's key rows (vectorized, the same recipe
// whatever the batch); the values are summed in position order. Nothing
// depends on the rest of the batch.
absl::Status CpuOps::Attention(int layer) {
  const ModelConfig& c = w_.config;
  const int h = c.n_heads, d = c.head_dim, g = c.CacheKvHeads(layer);
  const int group = h / g;
  const int bs = cache_->block_size();
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int64_t row = int64_t{g} * d;  // one position's cache row
  const int64_t q_stride = int64_t{h} * d;
  const int64_t items = int64_t{num_tokens_} * g;
  const float* q = AttentionQueries(layer);
  const int window = c.sliding_window;
  const Batch& batch = *batch_;
  float* att = attention_.data();
  pool_.ParallelFor(items, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;  // [group][pos + 1]
    for (int64_t item = begin; item < end; ++item) {
      const int t = static_cast<int>(item / g);
      const int kv = static_cast<int>(item % g);
      const int pos = batch.positions[t];
      // Keys first..pos: all of the sequence's, or the sliding window's.
      const int first = window > 0 ? std::max(0, pos - window + 1) : 0;
      const int64_t len = pos - first + 1;
      const auto& table = batch.block_tables[batch.seq_ids[t]];
      const float* qg = q + t * q_stride + int64_t{kv} * group * d;
      scores.resize(group * len);
      // Page by page: positions p .. p + count - 1 of page p / bs.
      auto for_each_page = [&](auto&& fn) {
        for (int p = first; p <= pos;) {
          const int offset = p % bs;
          const int count = std::min(bs - offset, pos + 1 - p);
          fn(table[p / bs], offset, count, p - first);
          p += count;
        }
      };
      for_each_page([&](int block, int offset, int count, int64_t at) {
        const float* kb =
            cache_->Keys(layer, block) + offset * row + int64_t{kv} * d;
        MatMulOnThisThread(group, count, d, qg, d, kb, row, scores.data() + at,
                           len);
      });
      for (int jj = 0; jj < group; ++jj) {
        float* sj = scores.data() + jj * len;
        for (int64_t i = 0; i < len; ++i) sj[i] *= scale;
        Softmax(sj, static_cast<int>(len));
      }
      float* out = att + t * q_stride + int64_t{kv} * group * d;
      std::fill(out, out + int64_t{group} * d, 0.0f);
      for_each_page([&](int block, int offset, int count, int64_t at) {
        const float* vb =
            cache_->Values(layer, block) + offset * row + int64_t{kv} * d;
        for (int r = 0; r < count; ++r) {
          for (int jj = 0; jj < group; ++jj) {
            Axpy(scores[jj * len + at + r], vb + r * row, out + int64_t{jj} * d,
                 d);
          }
        }
      });
    }
  });
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cpu
