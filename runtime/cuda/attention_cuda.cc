// Attention on the GPU: the paged GQA kernel (attention_kernels.cu), whose
// KV pages are read once per group of t = h / g_l query heads, with the
// step's work items planned on the host (runtime/kv/paged_attention_plan.h).
#include <cmath>

#include "runtime/cuda/cuda_ops.h"
#include "runtime/cuda/cuda_status.h"

namespace headroom::runtime::cuda {

absl::Status CudaOps::Attention(int layer) {
  const DeviceLayer& dl = layers_[layer];
  const ModelConfig& c = config_;
  const int d = c.head_dim, h = c.n_heads;
  const AttentionPlan& plan = plans_.at(dl.g);
  PagedAttentionParams p;
  p.dtype = dtype_;
  p.q = dl.post_rope_proj ? q_proj_.as<float>() : qkv_.as<float>();
  p.q_stride = dl.post_rope_proj ? int64_t{h} * d : QkvWidth(dl);
  p.k_cache = dl.k_cache.get();
  p.v_cache = dl.v_cache.get();
  p.positions = meta() + positions_offset_;
  p.block_tables = meta() + tables_offset_;
  p.items =
      reinterpret_cast<const AttentionWorkItem*>(meta() + plan.items_offset);
  p.num_items = plan.num_items;
  p.num_splits = meta() + plan.splits_offset;
  p.num_tokens = num_tokens_;
  p.num_heads = h;
  p.kv_heads = dl.g;
  p.head_dim = d;
  p.block_size = block_size_;
  p.max_splits = plan.max_splits;
  p.max_rows = plan.max_rows;
  p.scale = 1.0f / std::sqrt(static_cast<float>(d));
  p.window = c.sliding_window;
  p.partial = partial_.as<float>();
  p.out = att_.get();
  HEADROOM_CUDA_RETURN_IF_ERROR(PagedAttention(p, stream_.get()));
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cuda
