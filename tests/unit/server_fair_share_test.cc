// Weighted fair share: the waiting order it gives, and, driven through the
// real scheduler on a saturated simulated server, generated tokens per tenant
// in proportion to the weights.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "server/fair_share.h"

namespace headroom::server {
namespace {

SequenceView Waiting(int64_t id, const std::string& tenant, int priority = 0) {
  SequenceView v;
  v.id = id;
  v.arrival = id;
  v.tenant = tenant;
  v.priority = priority;
  v.num_tokens = 4;
  return v;
}

std::vector<std::string> TenantsOf(const std::vector<SequenceView>& v) {
  std::vector<std::string> out;
  for (const auto& s : v) out.push_back(s.tenant);
  return out;
}

TEST(FairShareTest, InterleavesByWeight) {
  FairShare fair({{"a", 1.0}, {"b", 2.0}}, /*quantum_tokens=*/10);
  std::vector<SequenceView> w;
  for (int i = 0; i < 4; ++i) w.push_back(Waiting(i, "a"));
  for (int i = 4; i < 8; ++i) w.push_back(Waiting(i, "b"));
  fair.Order(w);
  // Keys: a 0,10,20,30; b 0,5,10,15 -> ties by arrival.
  EXPECT_THAT(TenantsOf(w),
              ::testing::ElementsAre("a", "b", "b", "a", "b", "b", "a", "a"));
}

TEST(FairShareTest, TenantBehindGoesFirstAndPriorityWins) {
  FairShare fair({{"a", 1.0}, {"b", 1.0}});
  fair.Charge("a", 100);
  std::vector<SequenceView> w = {Waiting(1, "a"), Waiting(2, "b")};
  fair.Order(w);
  EXPECT_EQ(w[0].tenant, "b");
  std::vector<SequenceView> p = {Waiting(1, "b"), Waiting(2, "a", 5)};
  fair.Order(p);
  EXPECT_EQ(p[0].tenant, "a");  // priority before fair share
}

TEST(FairShareTest, IdleTimeIsNotBanked) {
  FairShare fair({{"a", 1.0}, {"b", 1.0}});
  fair.RequestStarted("a");
  fair.Charge("a", 1000);
  fair.RequestStarted("b");  // b was idle: starts level with a
  EXPECT_DOUBLE_EQ(fair.VirtualTime("b"), 1000);
}

// A saturated server: 16 open streams per tenant, each asking max_tokens
// tokens and reopened as soon as it ends; max_num_seqs slots; one token per
// running sequence per step (prompts of one token).
TEST(FairShareTest, TokensFollowWeightsOnASaturatedScheduler) {
  const std::map<std::string, double> weights = {
      {"t1", 1.0}, {"t2", 2.0}, {"t4", 4.0}};
  FairShare fair(weights);
  struct Seq {
    std::string tenant;
    int generated = 0;
    bool running = false;
    int blocks = 0;
  };
  std::map<int64_t, Seq> seqs;
  int64_t next = 1;
  const int kMaxTokens = 16;
  for (const auto& [t, w] : weights) {
    for (int i = 0; i < 16; ++i) {
      seqs[next++] = {t};
      fair.RequestStarted(t);
    }
  }
  SchedulerLimits limits;
  limits.max_num_seqs = 8;
  limits.max_num_batched_tokens = 64;
  limits.block_size = 16;
  std::map<std::string, int64_t> tokens;
  int free_blocks = 1000;
  for (int step = 0; step < 3000; ++step) {
    std::vector<SequenceView> views;
    for (const auto& [id, s] : seqs) {
      SequenceView v;
      v.id = id;
      v.arrival = id;
      v.tenant = s.tenant;
      v.num_tokens = 1 + s.generated;
      v.num_computed = s.running ? v.num_tokens - 1 : 0;
      v.num_blocks = s.blocks;
      v.running = s.running;
      views.push_back(v);
    }
    ScheduleResult r =
        Schedule(views, free_blocks, limits, [&](auto& w) { fair.Order(w); });
    for (const ScheduledChunk& c : r.scheduled) {
      Seq& s = seqs[c.id];
      s.running = true;
      s.blocks += c.new_blocks;
      free_blocks -= c.new_blocks;
      ++s.generated;
      fair.Charge(s.tenant, 1);
      if (step >= 500) ++tokens[s.tenant];  // after warm-up
      if (s.generated == kMaxTokens) {
        free_blocks += s.blocks;
        const std::string t = s.tenant;
        seqs.erase(c.id);
        fair.RequestEnded(t);
        seqs[next++] = {t};  // the client opens its next stream
        fair.RequestStarted(t);
      }
    }
  }
  const double total = tokens["t1"] + tokens["t2"] + tokens["t4"];
  for (const auto& [t, w] : weights) {
    const double share = tokens[t] / total;
    const double want = w / 7.0;
    EXPECT_NEAR(share / want, 1.0, 0.15) << t << " got " << tokens[t];
  }
}

}  // namespace
}  // namespace headroom::server
