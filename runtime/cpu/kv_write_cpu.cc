// WriteKvCache on the CPU: each token's key and value rows into its page.
#include <cstring>

#include "runtime/cpu/cpu_ops.h"

namespace headroom::runtime::cpu {

const float* CpuOps::CachedKeys(int layer) const {
  return has_post_rope_proj(layer) ? keys_projected_.data() : keys_.data();
}

const float* CpuOps::AttentionQueries(int layer) const {
  return has_post_rope_proj(layer) ? queries_projected_.data()
                                   : queries_.data();
}

absl::Status CpuOps::WriteKvCache(int layer) {
  const int64_t row = Columns(Activation::kValues, layer);  // g_l * d
  const float* k = CachedKeys(layer);
  const int bs = cache_->block_size();
  for (int t = 0; t < num_tokens_; ++t) {
    const int pos = batch_->positions[t];
    const int block = batch_->block_tables[batch_->seq_ids[t]][pos / bs];
    const int64_t off = int64_t{pos % bs} * row;
    std::memcpy(cache_->Keys(layer, block) + off, k + t * row,
                row * sizeof(float));
    std::memcpy(cache_->Values(layer, block) + off, values_.data() + t * row,
                row * sizeof(float));
  }
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cpu
