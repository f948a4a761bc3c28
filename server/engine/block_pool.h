// BlockPool: the KV pages' metadata (the pages live in the backend's
// KvCache). Each page has a reference count (the requests using it) and,
// once full and computed, may carry a block hash (block_hash.h) under which
// later requests find it. Pages no request uses sit in the free queue in
// least-recently-freed order; a free page that still carries a hash is
// "evictable": it can be found (and reused as it is) until an allocation
// takes it from the queue's front, which drops its hash.
//
//   BlockPool pool(num_blocks);
//   auto pages = pool.Allocate(3);        // from the free queue's front
//   pool.Cache(page, hash);               // full and computed: findable
//   if (auto b = pool.Find(hash)) pool.Take(*b);  // share it
//   pool.Release(pages);                  // back of the queue, in order
#ifndef HEADROOM_SERVER_ENGINE_BLOCK_POOL_H_
#define HEADROOM_SERVER_ENGINE_BLOCK_POOL_H_

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/engine/block_hash.h"

namespace headroom::server {

class BlockPool {
 public:
  // Pages 0..num_blocks-1, all free, queued in id order.
  explicit BlockPool(int num_blocks);

  // floor(kv_cache_memory_bytes / bytes_per_block): the pool size for a
  // memory budget and the served layout's bytes per block.
  static int BlocksForBudget(int64_t kv_cache_memory_bytes,
                             int64_t bytes_per_block);

  int num_blocks() const { return static_cast<int>(pages_.size()); }
  // Pages no request uses (evictable ones included): what Allocate can get.
  int num_free() const { return num_free_; }
  // Pages carrying a hash (in use or evictable), and the free ones of them.
  int num_cached() const { return static_cast<int>(by_hash_.size()); }
  int num_evictable() const { return num_evictable_; }
  int ref_count(int block) const { return pages_[block].refs; }

  // `count` pages from the front of the free queue (their hashes dropped),
  // each with one reference; ResourceExhausted (and no change) when fewer
  // are free.
  absl::StatusOr<std::vector<int>> Allocate(int count);
  // The page cached under `hash`, if any (in use or evictable).
  std::optional<int> Find(const BlockHash& hash) const;
  // One more reference to a page (out of the free queue if it was there).
  void Take(int block);
  // Drops one reference to each page in order; a page left with none goes
  // to the back of the free queue (so pass a request's pages last first:
  // its tail is then evicted before the prefix others may share).
  // InvalidArgument (after releasing the valid ones) for an id out of range
  // or a page with no reference: a double free.
  absl::Status Release(const std::vector<int>& blocks);
  // Makes a page in use findable under `hash`. No change when the hash is
  // cached already (on another page) or the page has one.
  void Cache(int block, const BlockHash& hash);

 private:
  struct Page {
    int refs = 0;
    bool queued = false;  // in the free queue
    bool hashed = false;
    BlockHash hash{};
    int prev = -1, next = -1;  // free-queue links
  };
  void PushBack(int block);
  void Unlink(int block);

  std::vector<Page> pages_;
  std::unordered_map<BlockHash, int, BlockHashHasher> by_hash_;
  int head_ = -1, tail_ = -1;  // free queue: evicted from the head
  int num_free_ = 0;
  int num_evictable_ = 0;
};

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_ENGINE_BLOCK_POOL_H_
