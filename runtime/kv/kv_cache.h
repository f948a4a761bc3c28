// KvCache: per-layer K and V page pools on the host, allocated once.
//
// A page (block) of layer l holds `block_size` tokens of g_l x d values for K
// and the same for V, laid out [token][head][d]. Pages are addressed by id;
// the runtime never decides which ids a sequence gets (the block manager
// does). Bytes per block follow the served (compressed) layout:
//   2 * block_size * sum_l g_l * d * sizeof(float).
#ifndef HEADROOM_RUNTIME_KV_KV_CACHE_H_
#define HEADROOM_RUNTIME_KV_KV_CACHE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/model/model_config.h"

namespace headroom::runtime {

struct KvCacheOptions {
  int block_size = 16;  // tokens per page
  int num_blocks = 0;   // pages per layer
};

class KvCache {
 public:
  KvCache() = default;  // empty; use Create
  static absl::StatusOr<std::unique_ptr<KvCache>> Create(
      const ModelConfig& config, const KvCacheOptions& options);

  // Bytes one block takes across all layers, K and V, for `config`'s served
  // layout with fp32 values.
  static int64_t BytesPerBlock(const ModelConfig& config, int block_size);

  int block_size() const { return block_size_; }
  int num_blocks() const { return num_blocks_; }
  // Bytes actually allocated for all pools.
  int64_t allocated_bytes() const;

  // [block_size, g_l, d] for page `block` of layer `layer`.
  float* Keys(int layer, int block) {
    return keys_[layer].data() + block * layer_block_stride_[layer];
  }
  float* Values(int layer, int block) {
    return values_[layer].data() + block * layer_block_stride_[layer];
  }
  const float* Keys(int layer, int block) const {
    return keys_[layer].data() + block * layer_block_stride_[layer];
  }
  const float* Values(int layer, int block) const {
    return values_[layer].data() + block * layer_block_stride_[layer];
  }

 private:
  int block_size_ = 0;
  int num_blocks_ = 0;
  std::vector<int64_t> layer_block_stride_;  // block_size * g_l * d
  std::vector<std::vector<float>> keys_;     // [layer][num_blocks * stride]
  std::vector<std::vector<float>> values_;
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_KV_KV_CACHE_H_
