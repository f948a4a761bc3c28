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

absl::StatusOr<std::unique_ptr<runtime::cpu::CpuOps>> OneLayerCpuOps(
    const runtime::ModelConfig& config, const runtime::LayerWeights& lw,
    int cache_kv_heads, int max_tokens, int threads,
    const runtime::Tensor& embedding) {
  constexpr int kBlockSize = 16;
  runtime::ModelWeights one;  // tensors shared with `lw`, not copied
  one.config = config;
  one.config.n_layers = 1;
  one.config.cache_kv_heads = {cache_kv_heads};
  one.config.max_seq_len = std::max(max_tokens, 1);
  one.layers = {lw};
  one.token_embedding = embedding;
  const int blocks = std::max((max_tokens + kBlockSize - 1) / kBlockSize, 1);
  auto cache = runtime::KvCache::Create(
      one.config, {.block_size = kBlockSize, .num_blocks = blocks});
  if (!cache.ok()) return cache.status();
  return std::make_unique<runtime::cpu::CpuOps>(std::move(one),
                                                std::move(*cache), threads);
}

runtime::Batch OneSequenceBatch(const runtime::cpu::CpuOps& ops,
                                const std::vector<int>& ids) {
  runtime::Batch batch;
  batch.block_tables.assign(1, std::vector<int>(ops.num_blocks()));
  std::iota(batch.block_tables[0].begin(), batch.block_tables[0].end(), 0);
  batch.AddTokens(0, ids.data(), static_cast<int>(ids.size()), 0,
                  /*logits_for_last=*/false);
  return batch;
}

// The serving path's own attention (runtime/model/decoder.h over the CPU
// ops) on a one-layer model holding `lw`, so that what is measured here is
// what is served: biases, per-head norms, scaled RoPE and sliding windows
// included.
absl::Status DenseLayerAttention(const runtime::ModelConfig& c, int layer,
                                 const runtime::LayerWeights& lw, int g,
                                 const float* xb, int T,
                                 std::vector<float>* out) {
  auto one = OneLayerCpuOps(c, lw, g, T, /*threads=*/1, runtime::Tensor());
  if (!one.ok()) return one.status();
  runtime::cpu::CpuOps& ops = **one;
  const std::vector<int> ids(T, 0);  // the inputs are given as xb
  const runtime::Batch batch = OneSequenceBatch(ops, ids);
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
