// How one step's paged attention is cut into GPU work items (the CUDA
// backend's attention kernels, runtime/cuda/attention_kernels.cu). Plain
// C++, no CUDA: the plan's invariants are tested on every build.
//
// A work item is a tile of query rows, r = (token, query head): up to
// kAttentionMaxRows rows made of consecutive tokens of one sequence and
// query heads of one GQA group (the KV head is the kernel grid's y index),
// with a range of key positions. A tile's keys 0..max_pos are split into
// several ranges (split-K) only while the step has fewer blocks (tiles x
// KV heads) than kAttentionTargetBlocks; each range's partial softmax state
// is combined per (token, head) afterwards.
#ifndef HEADROOM_RUNTIME_KV_PAGED_ATTENTION_PLAN_H_
#define HEADROOM_RUNTIME_KV_PAGED_ATTENTION_PLAN_H_

#include <cstdint>
#include <vector>

namespace headroom::runtime {

struct Batch;  // runtime/batch.h (not included: nvcc reads this header)

inline constexpr int kAttentionMaxRows = 32;
inline constexpr int kAttentionSplitKeys = 512;
inline constexpr int kAttentionTargetBlocks = 1024;

// Uploaded to the device as 8 int32 per item.
struct AttentionWorkItem {
  int32_t token_begin;  // first batch token of the tile
  int32_t num_tokens;
  int32_t head_begin;  // first query head within the group
  int32_t num_heads;
  int32_t split;  // which of the tile's key ranges
  int32_t key_begin;
  int32_t key_end;       // exclusive
  int32_t table_offset;  // the sequence's block table in the flat tables
};
static_assert(sizeof(AttentionWorkItem) == 8 * sizeof(int32_t));

struct PagedAttentionPlan {
  std::vector<AttentionWorkItem> items;
  std::vector<int32_t> num_splits;  // [T]: key ranges of each token's tile
  int max_splits = 0;
  int max_rows = 0;  // largest num_tokens * num_heads of an item
};

// The plan for layers with `kv_heads` cached heads (g_l) of `num_heads`
// query heads. `table_offsets[s]`: where sequence s's block table starts in
// the flattened tables. `batch` must be valid (Batch::Validate): each
// sequence's tokens contiguous, positions consecutive.
PagedAttentionPlan PlanPagedAttention(
    const Batch& batch, int num_heads, int kv_heads,
    const std::vector<int32_t>& table_offsets);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_KV_PAGED_ATTENTION_PLAN_H_
