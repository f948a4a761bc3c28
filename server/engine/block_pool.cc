#include "server/engine/block_pool.h"

#include "absl/strings/str_cat.h"

namespace headroom::server {

BlockPool::BlockPool(int num_blocks) : pages_(num_blocks > 0 ? num_blocks : 0) {
  for (int b = 0; b < this->num_blocks(); ++b) PushBack(b);
}

int BlockPool::BlocksForBudget(int64_t kv_cache_memory_bytes,
                               int64_t bytes_per_block) {
  if (bytes_per_block <= 0 || kv_cache_memory_bytes <= 0) return 0;
  const int64_t n = kv_cache_memory_bytes / bytes_per_block;
  return n > (1 << 30) ? (1 << 30) : static_cast<int>(n);
}

void BlockPool::PushBack(int block) {
  Page& p = pages_[block];
  p.prev = tail_;
  p.next = -1;
  if (tail_ >= 0) {
    pages_[tail_].next = block;
  } else {
    head_ = block;
  }
  tail_ = block;
  p.queued = true;
  ++num_free_;
  if (p.hashed) ++num_evictable_;
}

void BlockPool::Unlink(int block) {
  Page& p = pages_[block];
  if (p.prev >= 0) {
    pages_[p.prev].next = p.next;
  } else {
    head_ = p.next;
  }
  if (p.next >= 0) {
    pages_[p.next].prev = p.prev;
  } else {
    tail_ = p.prev;
  }
  p.prev = p.next = -1;
  p.queued = false;
  --num_free_;
  if (p.hashed) --num_evictable_;
}

absl::StatusOr<std::vector<int>> BlockPool::Allocate(int count) {
  if (count < 0 || count > num_free_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache: ", count, " pages requested, ", num_free_, " free"));
  }
  std::vector<int> blocks;
  blocks.reserve(count);
  for (int i = 0; i < count; ++i) {
    const int b = head_;
    Unlink(b);
    Page& p = pages_[b];
    if (p.hashed) {  // evicted: no longer findable
      by_hash_.erase(p.hash);
      p.hashed = false;
    }
    p.refs = 1;
    blocks.push_back(b);
  }
  return blocks;
}

std::optional<int> BlockPool::Find(const BlockHash& hash) const {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

void BlockPool::Take(int block) {
  Page& p = pages_[block];
  if (p.queued) Unlink(block);
  ++p.refs;
}

absl::Status BlockPool::Release(const std::vector<int>& blocks) {
  absl::Status status;
  for (int b : blocks) {
    if (b < 0 || b >= num_blocks() || pages_[b].refs <= 0) {
      status.Update(absl::InvalidArgumentError(
          absl::StrCat("KV cache: page ", b, " released but not held (of ",
                       num_blocks(), ")")));
      continue;
    }
    if (--pages_[b].refs == 0) PushBack(b);
  }
  return status;
}

void BlockPool::Cache(int block, const BlockHash& hash) {
  Page& p = pages_[block];
  if (p.hashed || by_hash_.count(hash) > 0) return;
  p.hashed = true;
  p.hash = hash;
  by_hash_.emplace(hash, block);
  if (p.queued) ++num_evictable_;
}

}  // namespace headroom::server
