#include "runtime/kv/kv_cache.h"

#include "absl/strings/str_cat.h"

namespace headroom::runtime {

int64_t KvCache::BytesPerBlock(const ModelConfig& config, int block_size) {
  return int64_t{block_size} * config.KvValuesPerToken() *
         static_cast<int64_t>(sizeof(float));
}

absl::StatusOr<std::unique_ptr<KvCache>> KvCache::Create(
    const ModelConfig& config, const KvCacheOptions& options) {
  if (options.block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv cache: block_size must be positive, got ", options.block_size));
  }
  if (options.num_blocks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv cache: num_blocks must be positive, got ", options.num_blocks));
  }
  auto cache = std::make_unique<KvCache>();
  cache->block_size_ = options.block_size;
  cache->num_blocks_ = options.num_blocks;
  for (int l = 0; l < config.n_layers; ++l) {
    const int64_t stride =
        int64_t{options.block_size} * config.CacheKvHeads(l) * config.head_dim;
    cache->layer_block_stride_.push_back(stride);
    cache->keys_.emplace_back(stride * options.num_blocks, 0.0f);
    cache->values_.emplace_back(stride * options.num_blocks, 0.0f);
  }
  return cache;
}

int64_t KvCache::allocated_bytes() const {
  int64_t total = 0;
  for (size_t l = 0; l < keys_.size(); ++l) {
    total += static_cast<int64_t>((keys_[l].size() + values_[l].size()) *
                                  sizeof(float));
  }
  return total;
}

}  // namespace headroom::runtime
