#include "server/engine/kv_cache_manager.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace headroom::server {

KvCacheManager::KvCacheManager(int num_blocks, int block_size,
                               bool enable_caching)
    : pool_(num_blocks), block_size_(block_size), caching_(enable_caching) {}

KvCacheManager::Request& KvCacheManager::Get(int64_t id) {
  return requests_[id];
}

const KvCacheManager::Request& KvCacheManager::Get(int64_t id) const {
  static const Request kNone;
  auto it = requests_.find(id);
  return it == requests_.end() ? kNone : it->second;
}

void KvCacheManager::AddRequest(int64_t id, const BlockHash& root) {
  Request& r = requests_[id];
  r.root = root;
}

absl::Status KvCacheManager::RemoveRequest(int64_t id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return absl::OkStatus();
  absl::Status s = ReleaseAll(id);
  requests_.erase(it);
  return s;
}

PrefixHit KvCacheManager::FindCachedPrefix(int64_t id,
                                           const std::vector<int>& tokens) {
  PrefixHit hit;
  Request& r = Get(id);
  if (!caching_ || !r.blocks.empty() || tokens.empty()) return hit;
  ExtendBlockHashes(r.root, tokens, block_size_, &r.hashes);
  const size_t limit = static_cast<size_t>(
      ShareablePromptBlocks(static_cast<int64_t>(tokens.size()), block_size_));
  for (size_t i = 0; i < std::min(limit, r.hashes.size()); ++i) {
    const std::optional<int> b = pool_.Find(r.hashes[i]);
    if (!b.has_value()) break;
    hit.blocks.push_back(*b);
    if (pool_.ref_count(*b) == 0) ++hit.num_evictable;
  }
  hit.num_tokens = static_cast<int>(hit.blocks.size()) * block_size_;
  return hit;
}

void KvCacheManager::TakeCachedPrefix(int64_t id, const PrefixHit& hit) {
  Request& r = Get(id);
  for (int b : hit.blocks) pool_.Take(b);
  r.blocks = hit.blocks;
  r.num_cached = hit.blocks.size();
}

absl::Status KvCacheManager::Allocate(int64_t id, int count) {
  auto pages = pool_.Allocate(count);
  if (!pages.ok()) return pages.status();
  Request& r = Get(id);
  r.blocks.insert(r.blocks.end(), pages->begin(), pages->end());
  return absl::OkStatus();
}

void KvCacheManager::CacheComputedPages(int64_t id,
                                        const std::vector<int>& tokens,
                                        int num_computed) {
  if (!caching_) return;
  Request& r = Get(id);
  ExtendBlockHashes(r.root, tokens, block_size_, &r.hashes);
  const size_t full = std::min({static_cast<size_t>(num_computed / block_size_),
                                r.hashes.size(), r.blocks.size()});
  for (; r.num_cached < full; ++r.num_cached) {
    pool_.Cache(r.blocks[r.num_cached], r.hashes[r.num_cached]);
  }
}

absl::Status KvCacheManager::ReleaseAll(int64_t id) {
  Request& r = Get(id);
  std::vector<int> last_first(r.blocks.rbegin(), r.blocks.rend());
  r.blocks.clear();
  r.num_cached = 0;
  return pool_.Release(last_first);
}

const std::vector<int>& KvCacheManager::blocks(int64_t id) const {
  return Get(id).blocks;
}

int KvCacheManager::ExclusiveBlocks(int64_t id) const {
  int n = 0;
  for (int b : Get(id).blocks) n += pool_.ref_count(b) == 1 ? 1 : 0;
  return n;
}

uint64_t KvCacheManager::NextPageKey(int64_t id, const std::vector<int>& tokens,
                                     int num_computed) {
  if (!caching_) return 0;
  Request& r = Get(id);
  ExtendBlockHashes(r.root, tokens, block_size_, &r.hashes);
  const size_t page = static_cast<size_t>(num_computed / block_size_);
  if (page >= r.hashes.size()) return 0;
  const uint64_t key = BlockHashHasher()(r.hashes[page]);
  return key == 0 ? 1 : key;
}

}  // namespace headroom::server
