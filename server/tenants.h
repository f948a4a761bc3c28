// Tenants: who a request belongs to (API key -> tenant) and whether the
// tenant's quotas let it in.
//
//   TenantRegistry tenants(config.tenants, config.allow_anonymous, pool);
//   auto tenant = tenants.Authenticate(authorization_header);  // or error
//   auto ticket = tenants.Admit(*tenant, cost);  // RESOURCE_EXHAUSTED names
//   ...                                          // the quota
//   tenants.OnFirstToken(*ticket); tenants.Release(*ticket, unused_tokens);
//
// Keys are compared as SHA-256 digests, in constant time, and never logged or
// kept (only their digests are).
#ifndef HEADROOM_SERVER_TENANTS_H_
#define HEADROOM_SERVER_TENANTS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config.h"
#include "server/engine/block_hash.h"

namespace headroom::server {

// Lowercase hex SHA-256 of an API key.
std::string ApiKeyDigest(const std::string& key);

// a == b in time that depends only on the lengths (not on where they differ).
bool ConstantTimeEquals(const std::string& a, const std::string& b);

// A token bucket: holds at most `capacity` tokens, refilled continuously at
// `capacity` per `period`. Not thread-safe (the registry locks around it).
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  // Starts full at `now`.
  TokenBucket(double capacity, Clock::duration period, Clock::time_point now);

  // Takes `tokens` if that many are there at `now`; else takes none.
  bool TryTake(double tokens, Clock::time_point now);
  // Puts back tokens taken but not used (capped at the capacity).
  void Refund(double tokens, Clock::time_point now);
  double Available(Clock::time_point now);
  double capacity() const { return capacity_; }

 private:
  void Refill(Clock::time_point now);

  double capacity_;
  double per_second_;  // refill rate, tokens per second
  double tokens_;
  Clock::time_point last_;
};

// The prefix-cache salt of a tenant's requests (GenerateRequest::
// cache_salt): its cache group's, else its own; tenants with different
// salts never share (or time) each other's cached pages.
std::string CacheSalt(const TenantConfig& tenant);

// What a request will cost, checked against the quotas at admission.
struct RequestCost {
  int64_t tokens = 0;    // prompt + max_tokens (tokens_per_minute)
  int64_t kv_pages = 0;  // worst-case pages: BlocksFor(prompt + max_tokens)
  // With prefix caching, the hashes of the prompt pages it can share
  // (ShareablePromptHashes, a subset of kv_pages): the tenant's reservation
  // counts each once while any of its requests in flight holds it.
  std::vector<BlockHash> shared_pages = {};
};

// A request admitted for a tenant; give it back with Release.
struct AdmissionTicket {
  int tenant = -1;  // index in the registry
  RequestCost cost;
  int64_t charged_pages = 0;  // pages its admission added to the tenant's
  bool started = false;       // OnFirstToken seen
};

struct TenantSnapshot {
  std::string name;
  double weight = 1.0;
  int in_flight = 0;
  int queued = 0;
  int64_t reserved_pages = 0;
};

class TenantRegistry {
 public:
  // `pool_pages`: the KV pool size that kv_page_share is a fraction of.
  TenantRegistry(const std::vector<TenantConfig>& tenants, bool allow_anonymous,
                 int pool_pages);
  ~TenantRegistry();

  // From the `authorization` metadata value ("" when absent): the tenant's
  // index, or UNAUTHENTICATED (message never contains the key).
  absl::StatusOr<int> Authenticate(const std::string& authorization) const;

  const TenantConfig& tenant(int index) const;
  int size() const;

  // Checks the quotas in order max_concurrent_requests, max_queued_requests,
  // kv_page_share, tokens_per_minute and takes the request's share of each;
  // RESOURCE_EXHAUSTED whose message starts with the quota's name. The
  // tenant's pages are counted here only: a shared page once, however many
  // of its requests hold it.
  absl::StatusOr<AdmissionTicket> Admit(int tenant, const RequestCost& cost);
  // The request produced its first token: it no longer counts as queued.
  void OnFirstToken(AdmissionTicket& ticket);
  // The request ended; `unused_tokens` (of cost.tokens) go back to the
  // bucket.
  void Release(AdmissionTicket& ticket, int64_t unused_tokens);

  std::vector<TenantSnapshot> Snapshot() const;

 private:
  struct State;
  mutable std::mutex mu_;  // guards every State's counters and bucket
  std::vector<std::unique_ptr<State>> states_;
  int anonymous_ = -1;  // index of the anonymous tenant, -1 when not allowed
  int pool_pages_;
};

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_TENANTS_H_
