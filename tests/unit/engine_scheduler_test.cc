// The scheduler as a pure function, and the block manager's accounting.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/engine/block_manager.h"
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

TEST(BlockManagerTest, AllocateFreeAndTenantAccounting) {
  BlockManager m(8);
  EXPECT_EQ(m.num_free(), 8);
  auto a = m.Allocate(3, "alice");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->size(), 3u);
  auto b = m.Allocate(5, "bob");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(m.num_free(), 0);
  EXPECT_EQ(m.held_by("alice"), 3);
  auto c = m.Allocate(1, "carol");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(m.num_free(), 0);
  m.Free(*a, "alice");
  EXPECT_EQ(m.num_free(), 3);
  EXPECT_EQ(m.held_by("alice"), 0);
  m.Free(*b, "bob");
  EXPECT_EQ(m.num_free(), 8);
}

TEST(BlockManagerTest, PoolSizeFollowsTheBudget) {
  EXPECT_EQ(BlockManager::BlocksForBudget(1000, 300), 3);
  EXPECT_EQ(BlockManager::BlocksForBudget(299, 300), 0);
  EXPECT_EQ(BlockManager::BlocksForBudget(1000, 0), 0);
}

}  // namespace
}  // namespace headroom::server
