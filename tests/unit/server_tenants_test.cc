// Tenants: key digests and constant-time comparison, Bearer parsing, the
// token bucket, and each quota refusing with its own name.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/tenants.h"

namespace headroom::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(TenantsTest, KeyDigestIsSha256Hex) {
  EXPECT_EQ(ApiKeyDigest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(ConstantTimeEquals("abcd", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("abcd", "abce"));
  EXPECT_FALSE(ConstantTimeEquals("abcd", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(TokenBucketTest, RefillsContinuouslyUpToCapacity) {
  using Clock = TokenBucket::Clock;
  const Clock::time_point t0{};
  TokenBucket b(60, std::chrono::minutes(1), t0);  // 1 token per second
  EXPECT_TRUE(b.TryTake(50, t0));
  EXPECT_FALSE(b.TryTake(20, t0));  // 10 left; all or nothing
  EXPECT_DOUBLE_EQ(b.Available(t0), 10);
  EXPECT_TRUE(b.TryTake(20, t0 + std::chrono::seconds(10)));
  EXPECT_DOUBLE_EQ(b.Available(t0 + std::chrono::seconds(10)), 0);
  EXPECT_DOUBLE_EQ(b.Available(t0 + std::chrono::hours(1)), 60);  // capped
  b.Refund(100, t0 + std::chrono::hours(1));
  EXPECT_DOUBLE_EQ(b.Available(t0 + std::chrono::hours(1)), 60);
}

std::vector<TenantConfig> Tenants() {
  TenantConfig a;
  a.name = "alice";
  a.api_key_sha256 = ApiKeyDigest("key-a");
  a.max_concurrent_requests = 2;
  TenantConfig b;
  b.name = "bob";
  b.api_key_sha256 = ApiKeyDigest("key-b");
  b.max_queued_requests = 1;
  TenantConfig c;
  c.name = "carol";
  c.api_key_sha256 = ApiKeyDigest("key-c");
  c.tokens_per_minute = 100;
  c.kv_page_share = 0.1;  // of 100 pages: 10
  return {a, b, c};
}

TEST(TenantsTest, AuthenticatesBearerKeys) {
  TenantRegistry r(Tenants(), /*allow_anonymous=*/false, 100);
  EXPECT_EQ(*r.Authenticate("Bearer key-b"), 1);
  EXPECT_EQ(r.Authenticate("").status().code(),
            absl::StatusCode::kUnauthenticated);
  auto wrong = r.Authenticate("Bearer key-z");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(wrong.status().message()),
              ::testing::Not(HasSubstr("key-z")));  // never echoed
  EXPECT_EQ(r.Authenticate("key-a").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(r.Authenticate("Bearer ").status().code(),
            absl::StatusCode::kUnauthenticated);

  TenantRegistry anon(Tenants(), /*allow_anonymous=*/true, 100);
  auto a = anon.Authenticate("");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(anon.tenant(*a).name, "anonymous");
  // A wrong key is still refused when anonymous use is allowed.
  EXPECT_FALSE(anon.Authenticate("Bearer nope").ok());
}

// Prefix caching: the prompt pages a tenant's requests share are counted
// once against kv_page_share, for as long as one of them holds them.
TEST(TenantsTest, SharedPromptPagesCountOnce) {
  TenantRegistry r(Tenants(), false, 100);  // carol: 10 pages
  const BlockHash root = PrefixRoot({CacheSalt(r.tenant(2))});
  std::vector<int> prompt(50);
  for (int i = 0; i < 50; ++i) prompt[i] = i + 1;
  RequestCost cost{10, 5};  // 5 pages in all, 3 of them shareable
  cost.shared_pages = ShareablePromptHashes(root, prompt, 16);
  ASSERT_EQ(cost.shared_pages.size(), 3u);
  auto first = r.Admit(2, cost);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->charged_pages, 5);
  auto second = r.Admit(2, cost);  // 2 pages of its own
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->charged_pages, 2);
  auto third = r.Admit(2, cost);  // 5 + 2 + 2 = 9 of 10
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(r.Snapshot()[2].reserved_pages, 9);
  EXPECT_THAT(std::string(r.Admit(2, cost).status().message()),
              StartsWith("kv_page_share"));  // 11 > 10
  // The first ends: the others still hold the shared pages, counted once
  // (2 + 2 own pages + 3 shared).
  r.Release(*first, 0);
  EXPECT_EQ(r.Snapshot()[2].reserved_pages, 7);
  r.Release(*second, 0);
  EXPECT_EQ(r.Snapshot()[2].reserved_pages, 5);
  r.Release(*third, 0);
  EXPECT_EQ(r.Snapshot()[2].reserved_pages, 0);
  // All released: the next one pays for every page again.
  auto again = r.Admit(2, cost);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->charged_pages, 5);
}

TEST(TenantsTest, CacheSaltsSeparateTenantsUnlessGrouped) {
  TenantConfig a, b;
  a.name = "a";
  b.name = "b";
  EXPECT_NE(CacheSalt(a), CacheSalt(b));
  a.cache_group = b.cache_group = "team";
  EXPECT_EQ(CacheSalt(a), CacheSalt(b));
  TenantConfig named_like_group;
  named_like_group.name = "team";
  EXPECT_NE(CacheSalt(named_like_group), CacheSalt(a));
}

TEST(TenantsTest, EachQuotaRefusesWithItsName) {
  TenantRegistry r(Tenants(), false, 100);
  RequestCost small{10, 1};
  auto a1 = r.Admit(0, small);
  auto a2 = r.Admit(0, small);
  ASSERT_TRUE(a1.ok() && a2.ok());
  auto a3 = r.Admit(0, small);
  EXPECT_EQ(a3.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(a3.status().message()),
              StartsWith("max_concurrent_requests"));
  r.Release(*a1, 0);
  EXPECT_TRUE(r.Admit(0, small).ok());

  auto b1 = r.Admit(1, small);
  ASSERT_TRUE(b1.ok());
  EXPECT_THAT(std::string(r.Admit(1, small).status().message()),
              StartsWith("max_queued_requests"));
  r.OnFirstToken(*b1);  // running now: no longer queued
  EXPECT_TRUE(r.Admit(1, small).ok());

  EXPECT_THAT(std::string(r.Admit(2, {10, 11}).status().message()),
              StartsWith("kv_page_share"));
  EXPECT_THAT(std::string(r.Admit(2, {101, 1}).status().message()),
              StartsWith("tokens_per_minute"));
  auto c1 = r.Admit(2, {80, 1});
  ASSERT_TRUE(c1.ok());
  EXPECT_THAT(std::string(r.Admit(2, {30, 1}).status().message()),
              StartsWith("tokens_per_minute"));
  r.Release(*c1, 60);  // 60 of the 80 unused: back in the bucket
  EXPECT_TRUE(r.Admit(2, {30, 1}).ok());
}

}  // namespace
}  // namespace headroom::server
