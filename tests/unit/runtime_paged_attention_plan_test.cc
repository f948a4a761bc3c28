// The CUDA attention's work plan (runtime/kv/paged_attention_plan.h), checked
// on the CPU: every (token, query head) gets each of its key ranges from
// exactly one work item, the ranges of a tile cover keys 0..max_pos in
// order, tiles stay within one sequence and kAttentionMaxRows rows, and
// split-K is used only when the step has few blocks.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <tuple>

#include "runtime/batch.h"
#include "runtime/kv/paged_attention_plan.h"

namespace headroom::runtime {
namespace {

struct SequenceSpec {
  int start_pos;  // first position computed this step
  int count;      // tokens this step
};

// A batch of the given sequences (contiguous tokens, consecutive
// positions); sequence s's table starts at 1000 * s in the flat tables.
Batch MakeBatch(const std::vector<SequenceSpec>& seqs,
                std::vector<int32_t>* table_offsets) {
  Batch batch;
  table_offsets->clear();
  for (size_t s = 0; s < seqs.size(); ++s) {
    std::vector<int> ids(seqs[s].count, 7);
    batch.block_tables.push_back({});
    batch.AddTokens(static_cast<int>(s), ids.data(), seqs[s].count,
                    seqs[s].start_pos, true);
    table_offsets->push_back(static_cast<int32_t>(1000 * s));
  }
  return batch;
}

void ExpectValidPlan(const Batch& batch, int h, int g,
                     const std::vector<int32_t>& table_offsets,
                     const PagedAttentionPlan& plan) {
  const int T = batch.num_tokens();
  const int group = h / g;
  ASSERT_EQ(static_cast<int>(plan.num_splits.size()), T);
  // (token, head within the group, split) -> items covering it.
  std::map<std::tuple<int, int, int>, int> covered;
  // (token_begin, head_begin) -> the key ranges of that tile, by split.
  std::map<std::pair<int, int>, std::map<int, std::pair<int, int>>> ranges;
  std::map<std::pair<int, int>, int> tile_last;  // its last token
  int max_rows = 0, max_splits = 0;
  for (const AttentionWorkItem& it : plan.items) {
    ASSERT_GE(it.num_tokens, 1);
    ASSERT_GE(it.num_heads, 1);
    ASSERT_LE(it.token_begin + it.num_tokens, T);
    ASSERT_LE(it.head_begin + it.num_heads, group);
    EXPECT_LE(it.num_tokens * it.num_heads, kAttentionMaxRows);
    max_rows = std::max(max_rows, it.num_tokens * it.num_heads);
    const int seq = batch.seq_ids[it.token_begin];
    EXPECT_EQ(it.table_offset, table_offsets[seq]);
    const int last = it.token_begin + it.num_tokens - 1;
    for (int t = it.token_begin; t <= last; ++t) {
      EXPECT_EQ(batch.seq_ids[t], seq) << "a tile spans two sequences";
      EXPECT_EQ(plan.num_splits[t], plan.num_splits[it.token_begin]);
      for (int j = it.head_begin; j < it.head_begin + it.num_heads; ++j) {
        ++covered[{t, j, it.split}];
      }
    }
    EXPECT_LT(it.key_begin, it.key_end);
    EXPECT_LE(it.key_end, batch.positions[last] + 1);
    ranges[{it.token_begin, it.head_begin}][it.split] = {it.key_begin,
                                                         it.key_end};
    tile_last[{it.token_begin, it.head_begin}] = last;
    max_splits = std::max(max_splits, it.split + 1);
  }
  EXPECT_EQ(plan.max_rows, max_rows);
  EXPECT_EQ(plan.max_splits, max_splits);
  // Each (token, head, split) exactly once; nothing beyond num_splits.
  int expected = 0;
  for (int t = 0; t < T; ++t) {
    ASSERT_GE(plan.num_splits[t], 1);
    for (int j = 0; j < group; ++j) {
      for (int s = 0; s < plan.num_splits[t]; ++s) {
        EXPECT_EQ((covered[{t, j, s}]), 1)
            << "token " << t << " head " << j << " split " << s;
        ++expected;
      }
    }
  }
  EXPECT_EQ(static_cast<int>(covered.size()), expected);
  // A tile's ranges: splits 0..S-1 partition [0, last position + 1).
  for (const auto& [tile, by_split] : ranges) {
    const int S = plan.num_splits[tile.first];
    ASSERT_EQ(static_cast<int>(by_split.size()), S);
    int next = 0;
    for (int s = 0; s < S; ++s) {
      EXPECT_EQ(by_split.at(s).first, next) << "split " << s;
      next = by_split.at(s).second;
    }
    // Up to the tile's last token, the one with the largest position.
    EXPECT_EQ(next, batch.positions[tile_last.at(tile)] + 1);
  }
}

TEST(PagedAttentionPlanTest, RandomRaggedBatchesAreCoveredExactlyOnce) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const int h = std::vector<int>{8, 12, 32, 64}[rng() % 4];
    std::vector<int> divisors;
    for (int g = 1; g <= h; ++g) {
      if (h % g == 0) divisors.push_back(g);
    }
    const int g = divisors[rng() % divisors.size()];
    std::vector<SequenceSpec> seqs;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int s = 0; s < n; ++s) {
      const bool decode = rng() % 2 == 0;
      seqs.push_back({static_cast<int>(rng() % 3000),
                      decode ? 1 : 1 + static_cast<int>(rng() % 300)});
    }
    std::vector<int32_t> offsets;
    const Batch batch = MakeBatch(seqs, &offsets);
    SCOPED_TRACE(::testing::Message()
                 << "trial " << trial << ": h " << h << " g " << g);
    ExpectValidPlan(batch, h, g, offsets,
                    PlanPagedAttention(batch, h, g, offsets));
  }
}

TEST(PagedAttentionPlanTest, TilesGroupTheHeadsOfAGroupAndPrefillTokens) {
  std::vector<int32_t> offsets;
  // GQA group of 4: 8 tokens x 4 heads per tile; a 100-token prefill is 13
  // tiles, one key range each (short context).
  const Batch prefill = MakeBatch({{0, 100}}, &offsets);
  const PagedAttentionPlan p = PlanPagedAttention(prefill, 32, 8, offsets);
  EXPECT_EQ(p.items.size(), 13u);
  EXPECT_EQ(p.max_rows, 32);
  EXPECT_EQ(p.items[0].num_tokens, 8);
  EXPECT_EQ(p.items[0].num_heads, 4);
  // A group of 64 heads (g = 1) is cut into two tiles of 32 heads.
  const Batch decode = MakeBatch({{10, 1}}, &offsets);
  const PagedAttentionPlan wide = PlanPagedAttention(decode, 64, 1, offsets);
  ASSERT_EQ(wide.items.size(), 2u);
  EXPECT_EQ(wide.items[1].head_begin, 32);
  EXPECT_EQ(wide.items[1].num_heads, 32);
}

TEST(PagedAttentionPlanTest, SplitsLongKeyRangesOnlyWhenBlocksAreFew) {
  std::vector<int32_t> offsets;
  // One decode at position 8000 with 8 KV heads: 8 blocks, so the 8001
  // keys are split in 16 ranges of 501 (the last 486).
  const Batch one = MakeBatch({{8000, 1}}, &offsets);
  const PagedAttentionPlan few = PlanPagedAttention(one, 32, 8, offsets);
  EXPECT_EQ(few.num_splits[0], 16);
  ASSERT_EQ(few.items.size(), 16u);
  for (const AttentionWorkItem& it : few.items) {
    EXPECT_EQ(it.key_end - it.key_begin, it.split < 15 ? 501 : 486);
  }
  // 256 decodes with 32 KV heads: 8192 blocks already, no split.
  std::vector<SequenceSpec> many(256, SequenceSpec{8000, 1});
  const Batch batch = MakeBatch(many, &offsets);
  const PagedAttentionPlan no_split =
      PlanPagedAttention(batch, 32, 32, offsets);
  EXPECT_EQ(no_split.max_splits, 1);
  EXPECT_EQ(no_split.items.size(), 256u);
  // Short contexts are never split.
  const Batch short_ctx = MakeBatch({{100, 1}}, &offsets);
  EXPECT_EQ(PlanPagedAttention(short_ctx, 32, 8, offsets).max_splits, 1);
}

}  // namespace
}  // namespace headroom::runtime
