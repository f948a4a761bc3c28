// The prefix cache's pieces: block hashes, the page pool (reference counts,
// LRU free queue, eviction) and the per-request manager (longest cached
// prefix, the last token always computed, exact page counts).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "server/engine/block_hash.h"
#include "server/engine/block_pool.h"
#include "server/engine/kv_cache_manager.h"

namespace headroom::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<int> Tokens(int n, int first = 1) {
  std::vector<int> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

TEST(BlockHashTest, ChainDependsOnEveryTokenBeforeAndTheExtraKeys) {
  const BlockHash root = PrefixRoot({"layout", "tenant:a"});
  std::vector<BlockHash> a, b, c, d;
  ExtendBlockHashes(root, Tokens(12), 4, &a);
  ASSERT_EQ(a.size(), 3u);
  auto changed = Tokens(12);
  changed[1] = 99;  // first page differs: every later hash differs
  ExtendBlockHashes(root, changed, 4, &b);
  for (int i = 0; i < 3; ++i) EXPECT_NE(a[i], b[i]) << i;
  // Same tokens, another salt / layout: no hash in common.
  ExtendBlockHashes(PrefixRoot({"layout", "tenant:b"}), Tokens(12), 4, &c);
  ExtendBlockHashes(PrefixRoot({"other", "tenant:a"}), Tokens(12), 4, &d);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(a[i], c[i]);
    EXPECT_NE(a[i], d[i]);
  }
  // Keys are length-prefixed: {"ab","c"} != {"a","bc"}.
  EXPECT_NE(PrefixRoot({"ab", "c"}), PrefixRoot({"a", "bc"}));
  // Extending is incremental and deterministic; a partial page is not hashed.
  std::vector<BlockHash> e;
  ExtendBlockHashes(root, Tokens(6), 4, &e);
  ASSERT_EQ(e.size(), 1u);
  ExtendBlockHashes(root, Tokens(13), 4, &e);
  EXPECT_EQ(e, a);
}

TEST(BlockHashTest, ShareablePagesLeaveTheLastPromptToken) {
  EXPECT_EQ(ShareablePromptBlocks(0, 16), 0);
  EXPECT_EQ(ShareablePromptBlocks(16, 16), 0);  // its last token: computed
  EXPECT_EQ(ShareablePromptBlocks(17, 16), 1);
  EXPECT_EQ(ShareablePromptBlocks(100, 16), 6);
  EXPECT_EQ(ShareablePromptHashes(PrefixRoot({}), Tokens(33), 16).size(), 2u);
  EXPECT_EQ(ShareablePromptHashes(PrefixRoot({}), Tokens(32), 16).size(), 1u);
}

BlockHash H(int i) { return PrefixRoot({std::to_string(i)}); }

TEST(BlockPoolTest, AllocateReleaseAndExactCounts) {
  BlockPool pool(8);
  EXPECT_EQ(pool.num_free(), 8);
  auto a = pool.Allocate(3);
  ASSERT_TRUE(a.ok());
  EXPECT_THAT(*a, ElementsAre(0, 1, 2));  // the queue's front first
  auto b = pool.Allocate(5);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(pool.num_free(), 0);
  auto c = pool.Allocate(1);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(pool.num_free(), 0);
  ASSERT_TRUE(pool.Release(*a).ok());
  EXPECT_EQ(pool.num_free(), 3);
  ASSERT_TRUE(pool.Release(*b).ok());
  EXPECT_EQ(pool.num_free(), 8);
  EXPECT_EQ(pool.Allocate(-1).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(BlockPoolTest, DoubleFreeAndUnknownPagesAreErrors) {
  BlockPool pool(4);
  auto a = pool.Allocate(2);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(pool.Release(*a).ok());
  const absl::Status twice = pool.Release(*a);
  EXPECT_EQ(twice.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(twice.message(), HasSubstr("released but not held"));
  EXPECT_EQ(pool.Release({7}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool.num_free(), 4);  // nothing counted twice
}

TEST(BlockPoolTest, SharedPageIsFreeOnlyWhenTheLastHolderReleases) {
  BlockPool pool(4);
  auto a = pool.Allocate(1);
  ASSERT_TRUE(a.ok());
  pool.Cache((*a)[0], H(1));
  ASSERT_EQ(pool.Find(H(1)), (*a)[0]);
  pool.Take((*a)[0]);
  EXPECT_EQ(pool.ref_count((*a)[0]), 2);
  ASSERT_TRUE(pool.Release(*a).ok());
  EXPECT_EQ(pool.num_free(), 3);
  ASSERT_TRUE(pool.Release(*a).ok());
  EXPECT_EQ(pool.num_free(), 4);
  EXPECT_EQ(pool.num_cached(), 1);
  EXPECT_EQ(pool.num_evictable(), 1);
  // Taking an evictable page takes it out of the free queue.
  pool.Take((*a)[0]);
  EXPECT_EQ(pool.num_free(), 3);
  EXPECT_EQ(pool.num_evictable(), 0);
  ASSERT_TRUE(pool.Release(*a).ok());
}

TEST(BlockPoolTest, EvictsLeastRecentlyReleasedFirst) {
  BlockPool pool(4);
  auto pages = pool.Allocate(4);
  ASSERT_TRUE(pages.ok());
  for (int i = 0; i < 4; ++i) pool.Cache((*pages)[i], H(i));
  // Released in the order 2, 0, 3, 1.
  for (int i : {2, 0, 3, 1}) ASSERT_TRUE(pool.Release({(*pages)[i]}).ok());
  EXPECT_EQ(pool.num_evictable(), 4);
  // A page found and used again moves out of the queue; released again it
  // is the most recent.
  pool.Take((*pages)[2]);
  ASSERT_TRUE(pool.Release({(*pages)[2]}).ok());  // order now 0, 3, 1, 2
  std::vector<int> evicted;
  for (int k = 0; k < 4; ++k) {
    auto one = pool.Allocate(1);
    ASSERT_TRUE(one.ok());
    evicted.push_back((*one)[0]);
    EXPECT_EQ(pool.num_cached(), 3 - k);
    EXPECT_FALSE(pool.Find(H(evicted.back())).has_value());
  }
  EXPECT_EQ(evicted, (std::vector<int>{0, 3, 1, 2}));
  EXPECT_EQ(pool.num_evictable(), 0);
}

TEST(BlockPoolTest, AHashIsCachedOnOnePageOnly) {
  BlockPool pool(2);
  auto a = pool.Allocate(2);
  ASSERT_TRUE(a.ok());
  pool.Cache((*a)[0], H(5));
  pool.Cache((*a)[1], H(5));  // the same page computed twice: kept once
  pool.Cache((*a)[0], H(6));  // a page keeps its first hash
  EXPECT_EQ(pool.num_cached(), 1);
  EXPECT_EQ(pool.Find(H(5)), (*a)[0]);
  EXPECT_FALSE(pool.Find(H(6)).has_value());
}

TEST(BlockPoolTest, PoolSizeFollowsTheBudget) {
  EXPECT_EQ(BlockPool::BlocksForBudget(1000, 300), 3);
  EXPECT_EQ(BlockPool::BlocksForBudget(299, 300), 0);
  EXPECT_EQ(BlockPool::BlocksForBudget(1000, 0), 0);
}

// Runs request `id` over `tokens` as the engine does: the cached prefix,
// new pages for the rest, then its full pages cached.
PrefixHit Admit(KvCacheManager& m, int64_t id, const std::vector<int>& tokens,
                const BlockHash& root) {
  m.AddRequest(id, root);
  PrefixHit hit = m.FindCachedPrefix(id, tokens);
  m.TakeCachedPrefix(id, hit);
  const int bs = m.block_size();
  const int need = (static_cast<int>(tokens.size()) + bs - 1) / bs -
                   static_cast<int>(hit.blocks.size());
  EXPECT_TRUE(m.Allocate(id, need).ok());
  m.CacheComputedPages(id, tokens, static_cast<int>(tokens.size()));
  return hit;
}

TEST(KvCacheManagerTest, SecondRequestSharesTheFullPagesOfThePrefix) {
  KvCacheManager m(16, 4, true);
  const BlockHash root = PrefixRoot({"t"});
  const auto first = Admit(m, 1, Tokens(10), root);  // pages 0-2, 2 full
  EXPECT_EQ(first.num_tokens, 0);
  EXPECT_EQ(m.pool().num_free(), 13);
  EXPECT_EQ(m.pool().num_cached(), 2);
  auto prompt = Tokens(10);
  prompt.push_back(50);  // the same 10 tokens, then more
  const auto second = Admit(m, 2, prompt, root);
  EXPECT_EQ(second.num_tokens, 8);
  EXPECT_EQ(second.num_evictable, 0);  // request 1 still holds them
  EXPECT_THAT(second.blocks, ElementsAre(m.blocks(1)[0], m.blocks(1)[1]));
  EXPECT_EQ(m.pool().num_free(), 12);  // one new page: tokens 8..10
  EXPECT_EQ(m.ExclusiveBlocks(2), 1);
  ASSERT_TRUE(m.RemoveRequest(1).ok());
  EXPECT_EQ(m.pool().num_free(), 13);  // its last page; 2 are shared
  ASSERT_TRUE(m.RemoveRequest(2).ok());
  EXPECT_EQ(m.pool().num_free(), 16);
  EXPECT_EQ(m.pool().num_evictable(), 2);
  // Found again after both finished: now evictable pages.
  m.AddRequest(3, root);
  const PrefixHit again = m.FindCachedPrefix(3, prompt);
  EXPECT_EQ(again.num_tokens, 8);
  EXPECT_EQ(again.num_evictable, 2);
  // Another root (tenant) finds nothing.
  m.AddRequest(4, PrefixRoot({"u"}));
  EXPECT_EQ(m.FindCachedPrefix(4, prompt).num_tokens, 0);
}

TEST(KvCacheManagerTest, TheLastTokenIsAlwaysComputed) {
  KvCacheManager m(16, 4, true);
  const BlockHash root = PrefixRoot({});
  Admit(m, 1, Tokens(8), root);  // two full pages cached
  EXPECT_EQ(m.pool().num_cached(), 2);
  m.AddRequest(2, root);
  // The same 8 tokens: the second page holds the last token, not shared.
  EXPECT_EQ(m.FindCachedPrefix(2, Tokens(8)).num_tokens, 4);
  EXPECT_EQ(m.FindCachedPrefix(2, Tokens(9)).num_tokens, 8);
  EXPECT_EQ(m.FindCachedPrefix(2, Tokens(1)).num_tokens, 0);
}

TEST(KvCacheManagerTest, OnlyComputedFullPagesAreCached) {
  KvCacheManager m(8, 4, true);
  m.AddRequest(1, PrefixRoot({}));
  ASSERT_TRUE(m.Allocate(1, 3).ok());
  m.CacheComputedPages(1, Tokens(10), 6);  // chunk 1: page 0 full
  EXPECT_EQ(m.pool().num_cached(), 1);
  m.CacheComputedPages(1, Tokens(10), 10);  // page 2 is partial
  EXPECT_EQ(m.pool().num_cached(), 2);
}

TEST(KvCacheManagerTest, CachingOffFindsAndCachesNothing) {
  KvCacheManager m(8, 4, false);
  Admit(m, 1, Tokens(9), PrefixRoot({}));
  EXPECT_EQ(m.pool().num_cached(), 0);
  const auto hit = Admit(m, 2, Tokens(9), PrefixRoot({}));
  EXPECT_EQ(hit.num_tokens, 0);
  EXPECT_EQ(m.NextPageKey(2, Tokens(9), 0), 0u);
  EXPECT_EQ(m.pool().num_free(), 2);
}

TEST(KvCacheManagerTest, NextPageKeyNamesThePageComputedNext) {
  KvCacheManager m(8, 4, true);
  const BlockHash root = PrefixRoot({});
  m.AddRequest(1, root);
  m.AddRequest(2, root);
  m.AddRequest(3, PrefixRoot({"other"}));
  const uint64_t k1 = m.NextPageKey(1, Tokens(9), 0);
  EXPECT_NE(k1, 0u);
  EXPECT_EQ(m.NextPageKey(2, Tokens(9), 0), k1);
  EXPECT_NE(m.NextPageKey(3, Tokens(9), 0), k1);
  EXPECT_NE(m.NextPageKey(1, Tokens(9), 4), k1);
  EXPECT_EQ(m.NextPageKey(1, Tokens(9), 8), 0u);  // no full page left
}

// A pool too small for every prefix: requests over 5 distinct prefixes of 3
// full pages (+1 partial) on a 10-page pool, against a reference model of
// the free queue written from the policy (pop the front; a released
// request's pages go to the back last page first; a page found again
// leaves the queue). After every request: the hit is what the model kept,
// every page is free again, and cached = evictable = the model's hashed
// pages.
TEST(KvCacheManagerTest, EvictionUnderPressureFollowsLruExactly) {
  const int bs = 4;
  KvCacheManager m(10, bs, true);
  const BlockHash root = PrefixRoot({});
  auto prompt = [&](int prefix) {
    std::vector<int> t = Tokens(3 * bs, 100 * (prefix + 1));
    t.push_back(7);  // 13 tokens: 4 pages, 3 of them full and shareable
    return t;
  };
  // The model's queue: (prefix, page) labels, {-1, -1} for a page with no
  // hash; front = next evicted.
  std::vector<std::pair<int, int>> queue(10, {-1, -1});
  auto cached = [&](int p, int page) {
    return std::find(queue.begin(), queue.end(), std::make_pair(p, page)) !=
           queue.end();
  };
  int64_t id = 1;
  const int order[] = {0, 1, 2, 0, 3, 4, 1, 0, 0, 2, 4, 4, 3, 1};
  for (int p : order) {
    int expect = 0;
    while (expect < 3 && cached(p, expect)) ++expect;
    for (int k = 0; k < expect; ++k) {
      queue.erase(std::find(queue.begin(), queue.end(), std::make_pair(p, k)));
    }
    queue.erase(queue.begin(), queue.begin() + (4 - expect));  // evicted
    std::vector<std::pair<int, int>> pages;  // the request's, in order
    for (int k = 0; k < 3; ++k) {
      // A page computed again while its hash is cached stays unhashed.
      pages.push_back(k < expect || !cached(p, k) ? std::make_pair(p, k)
                                                  : std::make_pair(-1, -1));
    }
    pages.push_back({-1, -1});
    queue.insert(queue.end(), pages.rbegin(), pages.rend());

    const auto hit = Admit(m, id, prompt(p), root);
    EXPECT_EQ(hit.num_tokens, expect * bs) << "request " << id;
    ASSERT_TRUE(m.RemoveRequest(id).ok());
    ++id;
    const int hashed = static_cast<int>(
        std::count_if(queue.begin(), queue.end(),
                      [](const auto& l) { return l.first >= 0; }));
    EXPECT_EQ(m.pool().num_free(), 10);
    EXPECT_EQ(m.pool().num_cached(), hashed) << "request " << id - 1;
    EXPECT_EQ(m.pool().num_evictable(), hashed);
  }
}

}  // namespace
}  // namespace headroom::server
