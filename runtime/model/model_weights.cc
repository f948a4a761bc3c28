#include "runtime/model/model_weights.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace headroom::runtime {
namespace {

absl::Status CheckSize(const std::vector<float>& t, int64_t expected,
                       const std::string& name) {
  if (static_cast<int64_t>(t.size()) == expected) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "tensor ", name, " has ", t.size(), " values, expected ", expected));
}

}  // namespace

int64_t FirstNonFinite(absl::Span<const float> values) {
  // An fp32 value is NaN or infinite exactly when its exponent bits are all
  // ones. Integer tests on the bits are immune to -ffast-math (which lets
  // std::isfinite fold to true) and reduce without branches per block.
  constexpr uint32_t kExponent = 0x7F800000u;
  constexpr int64_t kBlock = 4096;
  const int64_t n = static_cast<int64_t>(values.size());
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t end = std::min(n, begin + kBlock);
    uint32_t bad = 0;
    for (int64_t i = begin; i < end; ++i) {
      bad |= static_cast<uint32_t>(
          (std::bit_cast<uint32_t>(values[i]) & kExponent) == kExponent);
    }
    if (bad == 0) continue;
    for (int64_t i = begin; i < end; ++i) {
      if ((std::bit_cast<uint32_t>(values[i]) & kExponent) == kExponent) {
        return i;
      }
    }
  }
  return -1;
}

absl::Status CheckFiniteTensor(absl::Span<const float> values,
                               std::string_view name) {
  const int64_t i = FirstNonFinite(values);
  if (i < 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "tensor ", std::string(name), " has ", values[i], " at index ", i,
      " (of ", values.size(), " values): the weights must be finite"));
}

absl::Status ModelWeights::CheckFinite() const {
  if (auto s = CheckFiniteTensor(token_embedding, "token_embedding"); !s.ok())
    return s;
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayerWeights& w = layers[l];
    const std::pair<const std::vector<float>*, const char*> items[] = {
        {&w.rms_att, "rms_att"},
        {&w.wq, "wq"},
        {&w.wk, "wk"},
        {&w.wv, "wv"},
        {&w.wo, "wo"},
        {&w.rms_ffn, "rms_ffn"},
        {&w.w1, "w1"},
        {&w.w2, "w2"},
        {&w.w3, "w3"},
        {&w.key_cache_proj, "key_cache_proj"},
        {&w.query_proj, "query_proj"}};
    for (const auto& [t, name] : items) {
      if (auto s = CheckFiniteTensor(*t, absl::StrCat("layers.", l, ".", name));
          !s.ok())
        return s;
    }
  }
  if (auto s = CheckFiniteTensor(rms_final, "rms_final"); !s.ok()) return s;
  return CheckFiniteTensor(wcls, "wcls");
}

absl::Status ModelWeights::Validate() const {
  const ModelConfig& c = config;
  if (auto s = c.Validate(); !s.ok()) return s;
  const int64_t D = c.dim, d = c.head_dim, h = c.n_heads, F = c.hidden_dim;
  if (auto s = CheckSize(token_embedding, int64_t{c.vocab_size} * D,
                         "token_embedding");
      !s.ok())
    return s;
  if (static_cast<int>(layers.size()) != c.n_layers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model has ", layers.size(), " layers, config says ", c.n_layers));
  }
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& w = layers[l];
    const int64_t g = c.CacheKvHeads(l);
    const int64_t nk = w.has_post_rope_proj() ? c.n_kv_heads : g;
    const std::string p = absl::StrCat("layers.", l, ".");
    struct Item {
      const std::vector<float>* t;
      int64_t n;
      const char* name;
    };
    const Item items[] = {
        {&w.rms_att, D, "rms_att"}, {&w.wq, h * d * D, "wq"},
        {&w.wk, nk * d * D, "wk"},  {&w.wv, g * d * D, "wv"},
        {&w.wo, D * h * d, "wo"},   {&w.rms_ffn, D, "rms_ffn"},
        {&w.w1, F * D, "w1"},       {&w.w2, D * F, "w2"},
        {&w.w3, F * D, "w3"}};
    for (const Item& it : items) {
      if (auto s = CheckSize(*it.t, it.n, p + it.name); !s.ok()) return s;
    }
    if (w.has_post_rope_proj()) {
      if (c.n_kv_heads % g != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(p, "key_cache_proj: g_l = ", g,
                         " does not divide n_kv_heads = ", c.n_kv_heads));
      }
      if (auto s = CheckSize(w.key_cache_proj, c.n_kv_heads * d * d,
                             p + "key_cache_proj");
          !s.ok())
        return s;
      if (auto s = CheckSize(w.query_proj, h * d * d, p + "query_proj");
          !s.ok())
        return s;
    } else if (!w.query_proj.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(p, "query_proj is set without key_cache_proj"));
    }
  }
  if (auto s = CheckSize(rms_final, D, "rms_final"); !s.ok()) return s;
  if (!c.tied_embeddings) {
    if (auto s = CheckSize(wcls, int64_t{c.vocab_size} * D, "wcls"); !s.ok())
      return s;
  }
  return absl::OkStatus();
}

}  // namespace headroom::runtime
