#include "runtime/kv/paged_attention_plan.h"

#include <algorithm>

#include "runtime/batch.h"

namespace headroom::runtime {
namespace {

// Calls fn(begin, end) for each run of one sequence's tokens.
template <typename Fn>
void ForEachSequenceRun(const Batch& batch, Fn&& fn) {
  const int T = batch.num_tokens();
  for (int begin = 0; begin < T;) {
    int end = begin;
    while (end < T && batch.seq_ids[end] == batch.seq_ids[begin]) ++end;
    fn(begin, end);
    begin = end;
  }
}

}  // namespace

PagedAttentionPlan PlanPagedAttention(
    const Batch& batch, int num_heads, int kv_heads,
    const std::vector<int32_t>& table_offsets) {
  PagedAttentionPlan plan;
  plan.num_splits.assign(batch.num_tokens(), 0);
  const int group = num_heads / kv_heads;
  // Rows of a tile: tokens x heads of the group, at most kAttentionMaxRows.
  const int heads_per_tile = std::min(group, kAttentionMaxRows);
  const int tokens_per_tile = std::max(1, kAttentionMaxRows / heads_per_tile);
  const int head_chunks = (group + heads_per_tile - 1) / heads_per_tile;
  // Split the key ranges only as far as needed to give the GPU enough
  // blocks; this also bounds the partials to about kAttentionTargetBlocks
  // tiles' rows.
  int64_t tiles = 0;
  ForEachSequenceRun(batch, [&](int begin, int end) {
    tiles += (end - begin + tokens_per_tile - 1) / tokens_per_tile;
  });
  const int64_t blocks = tiles * head_chunks * kv_heads;
  const int max_split_factor = static_cast<int>(std::max<int64_t>(
      1, kAttentionTargetBlocks / std::max<int64_t>(1, blocks)));

  ForEachSequenceRun(batch, [&](int begin, int end) {
    const int32_t table = table_offsets[batch.seq_ids[begin]];
    for (int t0 = begin; t0 < end; t0 += tokens_per_tile) {
      const int nt = std::min(tokens_per_tile, end - t0);
      const int max_pos = batch.positions[t0 + nt - 1];
      // Keys 0..max_pos in `splits` ranges of split_keys (the last one
      // shorter): at most one range per kAttentionSplitKeys keys.
      const int wanted =
          std::min(max_split_factor,
                   (max_pos + kAttentionSplitKeys) / kAttentionSplitKeys);
      const int split_keys = (max_pos + wanted) / wanted;
      const int splits = (max_pos + split_keys) / split_keys;
      std::fill(plan.num_splits.begin() + t0, plan.num_splits.begin() + t0 + nt,
                splits);
      plan.max_splits = std::max(plan.max_splits, splits);
      for (int h0 = 0; h0 < group; h0 += heads_per_tile) {
        const int nh = std::min(heads_per_tile, group - h0);
        plan.max_rows = std::max(plan.max_rows, nt * nh);
        for (int s = 0; s < splits; ++s) {
          plan.items.push_back({t0, nt, h0, nh, s, s * split_keys,
                                std::min((s + 1) * split_keys, max_pos + 1),
                                table});
        }
      }
    }
  });
  return plan;
}

}  // namespace headroom::runtime
