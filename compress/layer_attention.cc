#include "compress/layer_attention.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/decoder.h"

namespace headroom::compress {

// The serving path's own attention (runtime/model/decoder.h over the CPU
// ops) on a one-layer model holding `lw`, so that what is measured here is
// what is served: biases, per-head norms, scaled RoPE and sliding windows
// included.
absl::Status DenseLayerAttention(const runtime::ModelConfig& c, int layer,
                                 const runtime::LayerWeights& lw, int g,
                                 const float* xb, int T,
                                 std::vector<float>* out) {
  constexpr int kBlockSize = 16;
  runtime::ModelWeights one;  // matrices shared with `lw`, not copied
  one.config = c;
  one.config.n_layers = 1;
  one.config.cache_kv_heads = {g};
  one.config.max_seq_len = std::max(T, 1);
  one.layers = {lw};
  const int blocks = (T + kBlockSize - 1) / kBlockSize;
  auto cache = runtime::KvCache::Create(
      one.config,
      {.block_size = kBlockSize, .num_blocks = std::max(blocks, 1)});
  if (!cache.ok()) return cache.status();
  runtime::cpu::CpuOps ops(std::move(one), std::move(*cache), /*threads=*/1);
  runtime::Batch batch;
  batch.block_tables.assign(1, std::vector<int>(blocks));
  std::iota(batch.block_tables[0].begin(), batch.block_tables[0].end(), 0);
  const std::vector<int> ids(T, 0);  // the inputs are given as xb
  batch.AddTokens(0, ids.data(), T, 0, /*logits_for_last=*/false);
  auto fail = [&](const absl::Status& s) {
    return absl::Status(
        s.code(), absl::StrCat("layer ", layer, " attention: ", s.message()));
  };
  if (auto s = ops.BeginStep(batch); !s.ok()) return fail(s);
  if (auto s = ops.Write(runtime::Activation::kNormed, 0,
                         std::vector<float>(xb, xb + int64_t{T} * c.dim));
      !s.ok()) {
    return fail(s);
  }
  if (auto s = runtime::ComputeQueriesKeysValues(ops, 0); !s.ok()) {
    return fail(s);
  }
  if (auto s = runtime::AttendOverCache(ops, 0); !s.ok()) return fail(s);
  auto attention = ops.Read(runtime::Activation::kAttention, 0);
  if (!attention.ok()) return fail(attention.status());
  *out = std::move(*attention);
  return absl::OkStatus();
}

}  // namespace headroom::compress
