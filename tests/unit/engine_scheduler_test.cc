// The scheduler as a pure function.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/engine/scheduler.h"

namespace headroom::server {
namespace {

SequenceView Seq(int64_t id, int tokens, int computed, int blocks, bool running,
                 int priority = 0) {
  SequenceView s;
  s.id = id;
  s.arrival = id;
  s.priority = priority;
  s.num_tokens = tokens;
  s.num_computed = computed;
  s.num_blocks = blocks;
  s.running = running;
  return s;
}

SchedulerLimits Limits(int tokens, int seqs, int block = 4) {
  SchedulerLimits l;
  l.max_num_batched_tokens = tokens;
  l.max_num_seqs = seqs;
  l.block_size = block;
  return l;
}

TEST(SchedulerTest, DecodesFirstThenChunkedPrefill) {
  // Two running decodes, one waiting prompt of 10 tokens; budget 6 tokens.
  const auto r = Schedule(
      {Seq(3, 10, 0, 0, false), Seq(1, 5, 4, 1, true), Seq(2, 9, 8, 2, true)},
      /*free_blocks=*/10, Limits(6, 8));
  ASSERT_EQ(r.scheduled.size(), 3u);
  EXPECT_EQ(r.scheduled[0].id, 1);
  EXPECT_EQ(r.scheduled[0].num_tokens, 1);
  EXPECT_EQ(r.scheduled[0].new_blocks, 1);  // position 4 opens page 2
  EXPECT_EQ(r.scheduled[1].id, 2);
  EXPECT_EQ(r.scheduled[1].new_blocks, 1);  // position 8 opens page 3
  EXPECT_EQ(r.scheduled[2].id, 3);
  EXPECT_EQ(r.scheduled[2].num_tokens, 4);  // the chunk the budget leaves
  EXPECT_EQ(r.scheduled[2].new_blocks, 1);
  EXPECT_TRUE(r.preempted.empty());
}

TEST(SchedulerTest, MaxNumSeqsBoundsTheBatch) {
  const auto r = Schedule(
      {Seq(1, 3, 0, 0, false), Seq(2, 3, 0, 0, false), Seq(3, 3, 0, 0, false)},
      10, Limits(100, 2));
  EXPECT_EQ(r.scheduled.size(), 2u);
}

TEST(SchedulerTest, PreemptsTheNewestRunningSequenceWhenPagesRunOut) {
  // Both running sequences need a new page; only one is free.
  const auto r = Schedule({Seq(1, 9, 8, 2, true), Seq(2, 5, 4, 1, true)},
                          /*free_blocks=*/1, Limits(16, 8));
  ASSERT_EQ(r.scheduled.size(), 1u);
  EXPECT_EQ(r.scheduled[0].id, 1);
  EXPECT_THAT(r.preempted, ::testing::ElementsAre(2));
}

TEST(SchedulerTest, PriorityDecidesWhoIsPreempted) {
  const auto r = Schedule({Seq(1, 9, 8, 2, true, /*priority=*/0),
                           Seq(2, 5, 4, 1, true, /*priority=*/5)},
                          0, Limits(16, 8));
  ASSERT_EQ(r.scheduled.size(), 1u);
  EXPECT_EQ(r.scheduled[0].id, 2);
  EXPECT_THAT(r.preempted, ::testing::ElementsAre(1));
}

TEST(SchedulerTest, WaitingSequencesDoNotOvertake) {
  // The first waiting prompt needs 3 pages, only 2 are free: nobody after
  // it is admitted either (FCFS).
  const auto r = Schedule({Seq(1, 12, 0, 0, false), Seq(2, 2, 0, 0, false)}, 2,
                          Limits(100, 8));
  EXPECT_TRUE(r.scheduled.empty());
}

TEST(SchedulerTest, AdmissionLeavesAPagePerSequenceInTheBatch) {
  // Two running decodes inside their pages (no new page), a waiting prompt
  // of 4 tokens (one page). With 2 free pages admitting it would leave 1
  // for 3 sequences: it waits. With 3 it is admitted.
  const std::vector<SequenceView> seqs = {
      Seq(1, 3, 2, 1, true), Seq(2, 6, 5, 2, true), Seq(3, 4, 0, 0, false)};
  const auto tight = Schedule(seqs, /*free_blocks=*/2, Limits(64, 8));
  ASSERT_EQ(tight.scheduled.size(), 2u);
  EXPECT_TRUE(tight.preempted.empty());
  const auto room = Schedule(seqs, /*free_blocks=*/3, Limits(64, 8));
  ASSERT_EQ(room.scheduled.size(), 3u);
  EXPECT_EQ(room.scheduled[2].id, 3);
  // With nothing running, a sequence is admitted when its chunk fits.
  const auto alone = Schedule({Seq(3, 4, 0, 0, false)}, 1, Limits(64, 8));
  EXPECT_EQ(alone.scheduled.size(), 1u);
  // Without the reserve, whenever the chunk fits.
  SchedulerLimits greedy = Limits(64, 8);
  greedy.admission_reserve = false;
  EXPECT_EQ(Schedule(seqs, 1, greedy).scheduled.size(), 3u);
}

TEST(SchedulerTest, FairnessHookReordersWaiting) {
  const auto r = Schedule(
      {Seq(1, 4, 0, 0, false), Seq(2, 4, 0, 0, false)}, 10, Limits(4, 8),
      [](std::vector<SequenceView>& w) { std::swap(w[0], w[1]); });
  ASSERT_EQ(r.scheduled.size(), 1u);
  EXPECT_EQ(r.scheduled[0].id, 2);
}

TEST(SchedulerTest, FinishedComputationIsSkipped) {
  const auto r = Schedule({Seq(1, 4, 4, 1, true)}, 10, Limits(8, 8));
  EXPECT_TRUE(r.scheduled.empty());
}

// Prefix caching. A waiting sequence with 8 of its 10 tokens cached (2
// pages of 4) computes only the last 2, in one new page.
TEST(SchedulerTest, CachedPrefixIsNotComputedAgain) {
  const auto r = Schedule({Seq(1, 10, 8, 2, false)}, 1, Limits(16, 8));
  ASSERT_EQ(r.scheduled.size(), 1u);
  EXPECT_EQ(r.scheduled[0].num_tokens, 2);
  EXPECT_EQ(r.scheduled[0].new_blocks, 1);
}

// Evictable cached pages leave the free queue when shared, so they cost
// free pages: 2 evictable hits + 1 new page do not fit in 2 free pages.
TEST(SchedulerTest, EvictableHitsCostFreePages) {
  SequenceView s = Seq(1, 10, 8, 2, false);
  s.num_evictable_hits = 2;
  EXPECT_TRUE(Schedule({s}, 2, Limits(16, 8)).scheduled.empty());
  const auto r = Schedule({s}, 3, Limits(16, 8));
  ASSERT_EQ(r.scheduled.size(), 1u);
  EXPECT_EQ(r.scheduled[0].new_blocks, 1);  // the hits are not allocated
}

// Preempting a sequence frees only the pages no one else holds: with 2 of
// its 3 pages shared, one preemption does not make room for 2 pages.
TEST(SchedulerTest, PreemptionCountsOnlyUnsharedPages) {
  SequenceView newest = Seq(2, 13, 12, 3, true);
  newest.num_shared_blocks = 2;
  // Sequence 1 needs 2 pages (tokens 8..15 at block 4, holding 2).
  const auto r = Schedule({Seq(1, 16, 8, 2, true), newest}, 0, Limits(16, 8));
  // Preempting 2 frees 1 page, not enough: 1 is preempted too.
  EXPECT_THAT(r.preempted, ::testing::ElementsAre(2, 1));
  EXPECT_TRUE(r.scheduled.empty());
  newest.num_shared_blocks = 0;
  const auto r2 = Schedule({Seq(1, 16, 8, 2, true), newest}, 0, Limits(16, 8));
  EXPECT_THAT(r2.preempted, ::testing::ElementsAre(2));
  ASSERT_EQ(r2.scheduled.size(), 1u);
  EXPECT_EQ(r2.scheduled[0].id, 1);
}

// The n samples of one prompt: the first computes the shared page, the
// others wait a step to share it; a sequence behind them with another
// prompt is not held up.
TEST(SchedulerTest, SamplesOfOnePromptWaitForItsPages) {
  std::vector<SequenceView> seqs;
  for (int id : {1, 2, 3}) {
    seqs.push_back(Seq(id, 9, 0, 0, false));
    seqs.back().next_page_key = 42;
  }
  seqs.push_back(Seq(4, 9, 0, 0, false));
  seqs.back().next_page_key = 7;
  const auto r = Schedule(seqs, 20, Limits(64, 8));
  ASSERT_EQ(r.scheduled.size(), 2u);
  EXPECT_EQ(r.scheduled[0].id, 1);
  EXPECT_EQ(r.scheduled[1].id, 4);
  // A running sequence computing the page holds the waiting ones back too.
  SequenceView running = Seq(5, 9, 4, 1, true);
  running.next_page_key = 42;
  const auto r2 =
      Schedule({running, Seq(6, 9, 0, 0, false)}, 20, Limits(64, 8));
  EXPECT_EQ(r2.scheduled.size(), 2u);  // key 0: nothing to share
  SequenceView waiting = Seq(6, 9, 0, 0, false);
  waiting.next_page_key = 42;
  const auto r3 = Schedule({running, waiting}, 20, Limits(64, 8));
  ASSERT_EQ(r3.scheduled.size(), 1u);
  EXPECT_EQ(r3.scheduled[0].id, 5);
}

}  // namespace
}  // namespace headroom::server
