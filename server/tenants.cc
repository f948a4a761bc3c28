#include "server/tenants.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "runtime/util/sha256.h"

namespace headroom::server {

std::string ApiKeyDigest(const std::string& key) {
  return runtime::Sha256Hex(key);
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  // Digests all have the same length, so the length check leaks nothing.
  if (a.size() != b.size()) return false;
  // volatile keeps the compiler from turning the loop into an early exit.
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

TokenBucket::TokenBucket(double capacity, Clock::duration period,
                         Clock::time_point now)
    : capacity_(capacity),
      per_second_(capacity / std::chrono::duration<double>(period).count()),
      tokens_(capacity),
      last_(now) {}

void TokenBucket::Refill(Clock::time_point now) {
  if (now <= last_) return;  // time never runs backwards for the bucket
  const double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(capacity_, tokens_ + seconds * per_second_);
  last_ = now;
}

bool TokenBucket::TryTake(double tokens, Clock::time_point now) {
  Refill(now);
  if (tokens > tokens_) return false;
  tokens_ -= tokens;
  return true;
}

void TokenBucket::Refund(double tokens, Clock::time_point now) {
  Refill(now);
  tokens_ = std::min(capacity_, tokens_ + std::max(0.0, tokens));
}

double TokenBucket::Available(Clock::time_point now) {
  Refill(now);
  return tokens_;
}

struct TenantRegistry::State {
  TenantConfig config;
  std::unique_ptr<TokenBucket> bucket;  // null: no tokens_per_minute
  int in_flight = 0;
  int queued = 0;  // in flight without a first token yet
  // Reserved pages: each request's own (not shareable) pages, plus each
  // shareable prompt page once while any request holds it.
  int64_t own_pages = 0;
  std::map<BlockHash, int> page_holders;  // shareable page -> holders
  int64_t reserved_pages() const {
    return own_pages + static_cast<int64_t>(page_holders.size());
  }
};

std::string CacheSalt(const TenantConfig& tenant) {
  return tenant.cache_group.empty() ? "tenant:" + tenant.name
                                    : "group:" + tenant.cache_group;
}

TenantRegistry::TenantRegistry(const std::vector<TenantConfig>& tenants,
                               bool allow_anonymous, int pool_pages)
    : pool_pages_(pool_pages) {
  const auto now = TokenBucket::Clock::now();
  for (const TenantConfig& t : tenants) {
    auto s = std::make_unique<State>();
    s->config = t;
    if (t.tokens_per_minute > 0) {
      s->bucket = std::make_unique<TokenBucket>(
          static_cast<double>(t.tokens_per_minute), std::chrono::minutes(1),
          now);
    }
    if (t.name == "anonymous" && t.api_key_sha256.empty()) {
      anonymous_ = static_cast<int>(states_.size());
    }
    states_.push_back(std::move(s));
  }
  if (!allow_anonymous) {
    anonymous_ = -1;
  } else if (anonymous_ < 0) {
    auto s = std::make_unique<State>();
    s->config.name = "anonymous";
    anonymous_ = static_cast<int>(states_.size());
    states_.push_back(std::move(s));
  }
}

TenantRegistry::~TenantRegistry() = default;

absl::StatusOr<int> TenantRegistry::Authenticate(
    const std::string& authorization) const {
  if (authorization.empty()) {
    if (anonymous_ >= 0) return anonymous_;
    return absl::UnauthenticatedError(
        "no API key: send metadata \"authorization: Bearer <key>\"");
  }
  constexpr char kPrefix[] = "Bearer ";
  if (authorization.rfind(kPrefix, 0) != 0 ||
      authorization.size() == sizeof(kPrefix) - 1) {
    return absl::UnauthenticatedError(
        "the authorization metadata must be \"Bearer <key>\"");
  }
  const std::string digest =
      ApiKeyDigest(authorization.substr(sizeof(kPrefix) - 1));
  // Every tenant is compared (no early exit), so the time does not tell
  // which tenant a near-miss digest belongs to.
  int found = -1;
  for (size_t i = 0; i < states_.size(); ++i) {
    const std::string& want = states_[i]->config.api_key_sha256;
    if (!want.empty() && ConstantTimeEquals(digest, want)) {
      found = static_cast<int>(i);
    }
  }
  if (found < 0) return absl::UnauthenticatedError("unknown API key");
  return found;
}

const TenantConfig& TenantRegistry::tenant(int index) const {
  return states_[index]->config;
}

int TenantRegistry::size() const { return static_cast<int>(states_.size()); }

absl::StatusOr<AdmissionTicket> TenantRegistry::Admit(int tenant,
                                                      const RequestCost& cost) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *states_[tenant];
  const TenantConfig& c = s.config;
  if (c.max_concurrent_requests > 0 &&
      s.in_flight >= c.max_concurrent_requests) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "max_concurrent_requests: tenant ", c.name, " already has ",
        s.in_flight, " requests in flight (limit ", c.max_concurrent_requests,
        ")"));
  }
  if (c.max_queued_requests > 0 && s.queued >= c.max_queued_requests) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "max_queued_requests: tenant ", c.name, " already has ", s.queued,
        " requests waiting for their first token (limit ",
        c.max_queued_requests, ")"));
  }
  const int64_t own = std::max<int64_t>(
      0, cost.kv_pages - static_cast<int64_t>(cost.shared_pages.size()));
  int64_t charged = own;  // plus the shareable pages not held already
  for (const BlockHash& h : cost.shared_pages) {
    charged += s.page_holders.count(h) == 0 ? 1 : 0;
  }
  if (c.kv_page_share < 1.0) {
    const int64_t limit =
        static_cast<int64_t>(std::floor(c.kv_page_share * pool_pages_));
    if (s.reserved_pages() + charged > limit) {
      return absl::ResourceExhaustedError(
          absl::StrCat("kv_page_share: tenant ", c.name, " would reserve ",
                       s.reserved_pages() + charged, " KV pages; its share is ",
                       limit, " of ", pool_pages_));
    }
  }
  if (s.bucket != nullptr) {
    const auto now = TokenBucket::Clock::now();
    if (cost.tokens > s.bucket->capacity()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("tokens_per_minute: the request costs ", cost.tokens,
                       " tokens (prompt + max_tokens), more than tenant ",
                       c.name, "'s whole limit of ", c.tokens_per_minute));
    }
    if (!s.bucket->TryTake(static_cast<double>(cost.tokens), now)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("tokens_per_minute: tenant ", c.name, " has ",
                       static_cast<int64_t>(s.bucket->Available(now)),
                       " tokens left this minute; the request costs ",
                       cost.tokens, " (prompt + max_tokens)"));
    }
  }
  ++s.in_flight;
  ++s.queued;
  s.own_pages += own;
  for (const BlockHash& h : cost.shared_pages) ++s.page_holders[h];
  AdmissionTicket ticket;
  ticket.tenant = tenant;
  ticket.cost = cost;
  ticket.charged_pages = charged;
  return ticket;
}

void TenantRegistry::OnFirstToken(AdmissionTicket& ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ticket.tenant < 0 || ticket.started) return;
  ticket.started = true;
  --states_[ticket.tenant]->queued;
}

void TenantRegistry::Release(AdmissionTicket& ticket, int64_t unused_tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ticket.tenant < 0) return;
  State& s = *states_[ticket.tenant];
  if (!ticket.started) --s.queued;
  --s.in_flight;
  s.own_pages -= std::max<int64_t>(
      0, ticket.cost.kv_pages -
             static_cast<int64_t>(ticket.cost.shared_pages.size()));
  for (const BlockHash& h : ticket.cost.shared_pages) {
    auto it = s.page_holders.find(h);
    if (it != s.page_holders.end() && --it->second <= 0) {
      s.page_holders.erase(it);
    }
  }
  if (s.bucket != nullptr && unused_tokens > 0) {
    s.bucket->Refund(static_cast<double>(unused_tokens),
                     TokenBucket::Clock::now());
  }
  ticket.tenant = -1;  // released once
}

std::vector<TenantSnapshot> TenantRegistry::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TenantSnapshot> out;
  for (const auto& s : states_) {
    out.push_back({s->config.name, s->config.weight, s->in_flight, s->queued,
                   s->reserved_pages()});
  }
  return out;
}

}  // namespace headroom::server
