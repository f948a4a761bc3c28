// BlockManager: which KV pages are free, who holds the others. Metadata only:
// the pages themselves live in the backend's KvCache.
#ifndef HEADROOM_SERVER_ENGINE_BLOCK_MANAGER_H_
#define HEADROOM_SERVER_ENGINE_BLOCK_MANAGER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace headroom::server {

class BlockManager {
 public:
  // Pages 0..num_blocks-1, all free.
  explicit BlockManager(int num_blocks);

  // floor(kv_cache_memory_bytes / bytes_per_block): the pool size for a
  // memory budget and the served layout's bytes per block.
  static int BlocksForBudget(int64_t kv_cache_memory_bytes,
                             int64_t bytes_per_block);

  int num_blocks() const { return static_cast<int>(ref_counts_.size()); }
  int num_free() const { return static_cast<int>(free_.size()); }
  // Pages held by `tenant` (counted once per holder).
  int held_by(const std::string& tenant) const;

  // `count` pages for `tenant`, all or nothing: ResourceExhausted (and no
  // change) when fewer are free.
  absl::StatusOr<std::vector<int>> Allocate(int count,
                                            const std::string& tenant);
  // Drops one reference to each page; a page with no reference left is free.
  void Free(const std::vector<int>& blocks, const std::string& tenant);

 private:
  std::vector<int> free_;        // LIFO free list
  std::vector<int> ref_counts_;  // [num_blocks]
  std::map<std::string, int> held_;
};

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_ENGINE_BLOCK_MANAGER_H_
