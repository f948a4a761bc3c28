// Attention on the CPU: paged, causal, grouped as GQA shares the cache.
#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/cpu/attention_kernels.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/kernels.h"

namespace headroom::runtime::cpu {

namespace {

// Cache heads per work item: all of a token's, so its cache rows are read
// whole front to back (the fastest order: headroom-bench-forward decoding
// after 512 tokens ran up to 1.8x faster than reading a head at a time), unless
// that leaves a thread without an item, as when decoding on several threads.
// Only the loop order changes with it, never a score's or an output's
// recipe (attention_kernels.h), so the bits do not depend on it.
int HeadsPerItem(int64_t num_tokens, int cache_heads, int threads) {
  const int64_t wanted_items = threads;
  if (num_tokens >= wanted_items) return cache_heads;
  const int64_t chunks = std::min<int64_t>(
      cache_heads, (wanted_items + num_tokens - 1) / num_tokens);
  return static_cast<int>((cache_heads + chunks - 1) / chunks);
}

}  // namespace

// Scaled dot-product attention of every (token, query head) over the
// sequence's cached positions 0..pos (the last `sliding_window` of them
// when the model has one): query heads kv * t .. kv * t + t - 1
// (t = h / g_l) read cache head kv. A work item is a token and a run of
// cache heads; it reads their keys and values once for all t heads each,
// page by page and row by row, with the process's attention kernels
// (attention_kernels.h: scores as dot products, values summed in position
// order, each with one recipe whatever the page split). Nothing depends on
// the rest of the batch.
absl::Status CpuOps::Attention(int layer) {
  const ModelConfig& c = w_.config;
  const int h = c.n_heads, d = c.head_dim, g = c.CacheKvHeads(layer);
  const int group = h / g;
  const int bs = cache_->block_size();
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int64_t row = int64_t{g} * d;  // one position's cache row
  const int64_t q_stride = int64_t{h} * d;
  const int per_item = HeadsPerItem(num_tokens_, g, pool_.num_threads());
  const int64_t chunks = (g + per_item - 1) / per_item;
  const float* q = AttentionQueries(layer);
  const int window = c.sliding_window;
  const Batch& batch = *batch_;
  float* att = attention_.data();
  const AttentionKernels& kernels = ProcessAttentionKernels();
  pool_.ParallelFor(num_tokens_ * chunks, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;  // [heads * group][len]
    for (int64_t item = begin; item < end; ++item) {
      const int t = static_cast<int>(item / chunks);
      const int kv = static_cast<int>(item % chunks) * per_item;
      const int heads = std::min(per_item, g - kv);
      const int rows = heads * group;  // query heads of the item
      const int pos = batch.positions[t];
      // Keys first..pos: all of the sequence's, or the sliding window's.
      const int first = window > 0 ? std::max(0, pos - window + 1) : 0;
      const int64_t len = pos - first + 1;
      const auto& table = batch.block_tables[batch.seq_ids[t]];
      const float* qg = q + t * q_stride + int64_t{kv} * group * d;
      scores.resize(rows * len);
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
        kernels.scores(heads, group, count, d, qg, kb, row, scores.data() + at,
                       len);
      });
      for (int u = 0; u < rows; ++u) {
        float* su = scores.data() + u * len;
        for (int64_t i = 0; i < len; ++i) su[i] *= scale;
        Softmax(su, static_cast<int>(len));
      }
      float* out = att + t * q_stride + int64_t{kv} * group * d;
      std::fill(out, out + int64_t{rows} * d, 0.0f);
      for_each_page([&](int block, int offset, int count, int64_t at) {
        const float* vb =
            cache_->Values(layer, block) + offset * row + int64_t{kv} * d;
        kernels.weighted_sum(heads, group, count, d, scores.data() + at, len,
                             vb, row, out);
      });
    }
  });
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cpu
