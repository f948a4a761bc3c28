// KvCacheManager: the pages of each request over one BlockPool, with prefix
// caching (block_hash.h). A request's full pages, once computed, are cached
// under their hash chain; a request admitted later finds the longest run of
// cached pages that starts its tokens, shares them (reference counts) and
// computes only the rest. Released pages keep their hashes until evicted
// (least recently released first), so a finished or preempted request's
// prefix serves the next one.
//
//   manager.AddRequest(id, root);
//   PrefixHit hit = manager.FindCachedPrefix(id, tokens);  // no change
//   manager.TakeCachedPrefix(id, hit);   // share those pages
//   manager.Allocate(id, new_pages);     // and new ones for the rest
//   ... forward pass ...
//   manager.CacheComputedPages(id, tokens, num_computed);
//   manager.RemoveRequest(id);           // finished: pages released
//
// With caching off nothing is found or cached: plain paged allocation.
#ifndef HEADROOM_SERVER_ENGINE_KV_CACHE_MANAGER_H_
#define HEADROOM_SERVER_ENGINE_KV_CACHE_MANAGER_H_

#include <cstdint>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "server/engine/block_hash.h"
#include "server/engine/block_pool.h"

namespace headroom::server {

struct PrefixHit {
  std::vector<int> blocks;  // cached pages, in token order
  int num_tokens = 0;       // the tokens they hold
  int num_evictable = 0;    // of them, pages now free: taking them costs
                            // free pages like an allocation
};

class KvCacheManager {
 public:
  KvCacheManager(int num_blocks, int block_size, bool enable_caching);

  const BlockPool& pool() const { return pool_; }
  int block_size() const { return block_size_; }
  bool caching_enabled() const { return caching_; }

  // Tracks request `id`, whose hash chain starts at `root`.
  void AddRequest(int64_t id, const BlockHash& root);
  // Releases the request's pages and forgets it (unknown ids: no-op).
  absl::Status RemoveRequest(int64_t id);

  // The longest run of cached pages that starts `tokens`, leaving the last
  // token to compute (at most (size - 1) / block_size pages). Changes
  // nothing; empty for a request that holds pages or with caching off.
  PrefixHit FindCachedPrefix(int64_t id, const std::vector<int>& tokens);
  // Shares the pages of `hit`, found for this request at this step.
  void TakeCachedPrefix(int64_t id, const PrefixHit& hit);
  // Appends `count` new pages to the request's table (all or nothing).
  absl::Status Allocate(int64_t id, int count);
  // Makes the request's full pages among its first `num_computed` tokens
  // findable.
  void CacheComputedPages(int64_t id, const std::vector<int>& tokens,
                          int num_computed);
  // Releases every page, last first (preemption); the request stays.
  absl::Status ReleaseAll(int64_t id);

  const std::vector<int>& blocks(int64_t id) const;
  // Pages that releasing the request would free now (those only it holds).
  int ExclusiveBlocks(int64_t id) const;
  // A key for the full page the request computes next, 0 when it has none
  // to compute or caching is off: two requests with the same nonzero key
  // would compute the same page (scheduler.h defers the second one).
  uint64_t NextPageKey(int64_t id, const std::vector<int>& tokens,
                       int num_computed);

 private:
  struct Request {
    BlockHash root{};
    std::vector<int> blocks;
    std::vector<BlockHash> hashes;  // of the full pages of its tokens
    size_t num_cached = 0;          // leading pages handed to Cache
  };
  Request& Get(int64_t id);
  const Request& Get(int64_t id) const;

  BlockPool pool_;
  int block_size_;
  bool caching_;
  std::map<int64_t, Request> requests_;
};

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_ENGINE_KV_CACHE_MANAGER_H_
