#include "server/engine/block_manager.h"

#include "absl/strings/str_cat.h"

namespace headroom::server {

BlockManager::BlockManager(int num_blocks) : ref_counts_(num_blocks, 0) {
  free_.reserve(num_blocks);
  // Hand out low ids first (pop from the back).
  for (int b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

int BlockManager::BlocksForBudget(int64_t kv_cache_memory_bytes,
                                  int64_t bytes_per_block) {
  if (bytes_per_block <= 0 || kv_cache_memory_bytes <= 0) return 0;
  const int64_t n = kv_cache_memory_bytes / bytes_per_block;
  return n > (1 << 30) ? (1 << 30) : static_cast<int>(n);
}

int BlockManager::held_by(const std::string& tenant) const {
  auto it = held_.find(tenant);
  return it == held_.end() ? 0 : it->second;
}

absl::StatusOr<std::vector<int>> BlockManager::Allocate(
    int count, const std::string& tenant) {
  if (count < 0 || count > num_free()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache: ", count, " pages requested, ", num_free(), " free"));
  }
  std::vector<int> blocks(free_.end() - count, free_.end());
  free_.resize(free_.size() - count);
  for (int b : blocks) ref_counts_[b] = 1;
  held_[tenant] += count;
  return blocks;
}

void BlockManager::Free(const std::vector<int>& blocks,
                        const std::string& tenant) {
  for (int b : blocks) {
    if (b < 0 || b >= num_blocks() || ref_counts_[b] <= 0) continue;
    if (--ref_counts_[b] == 0) free_.push_back(b);
  }
  auto it = held_.find(tenant);
  if (it != held_.end()) {
    it->second -= static_cast<int>(blocks.size());
    if (it->second <= 0) held_.erase(it);
  }
}

}  // namespace headroom::server
