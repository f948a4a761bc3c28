#include "runtime/model/model_config.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace headroom::runtime {

const char* RopeStyleName(RopeStyle style) {
  return style == RopeStyle::kInterleaved ? "interleaved" : "half";
}

namespace {

absl::Status ValidateRopeScaling(const RopeScaling& r) {
  if (r.type == RopeScaling::Type::kNone) return absl::OkStatus();
  if (!(r.factor >= 1.0f) || !std::isfinite(r.factor)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model config: rope_scaling.factor must be a finite number >= 1, got ",
        r.factor));
  }
  if (r.type != RopeScaling::Type::kLlama3) return absl::OkStatus();
  if (!(r.low_freq_factor > 0.0f) ||
      !(r.high_freq_factor > r.low_freq_factor) ||
      !std::isfinite(r.high_freq_factor)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config: rope_scaling needs 0 < low_freq_factor < "
                     "high_freq_factor, got ",
                     r.low_freq_factor, " and ", r.high_freq_factor));
  }
  if (r.original_max_position <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model config: rope_scaling.original_max_position_embeddings must be "
        "positive, got ",
        r.original_max_position));
  }
  return absl::OkStatus();
}

}  // namespace

int ModelConfig::CacheKvHeads(int layer) const {
  if (cache_kv_heads.empty()) return n_kv_heads;
  return cache_kv_heads[layer];
}

int64_t ModelConfig::KvValuesPerToken() const {
  int64_t total = 0;
  for (int l = 0; l < n_layers; ++l) total += 2LL * CacheKvHeads(l) * head_dim;
  return total;
}

int64_t ModelConfig::OriginalKvValuesPerToken() const {
  return 2LL * n_layers * n_kv_heads * head_dim;
}

absl::Status ModelConfig::Validate() const {
  auto positive = [](const char* name, int64_t v) -> absl::Status {
    if (v > 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("model config: ", name, " must be positive, got ", v));
  };
  for (auto [name, v] : {std::pair<const char*, int64_t>{"dim", dim},
                         {"hidden_dim", hidden_dim},
                         {"n_layers", n_layers},
                         {"n_heads", n_heads},
                         {"n_kv_heads", n_kv_heads},
                         {"head_dim", head_dim},
                         {"vocab_size", vocab_size},
                         {"max_seq_len", max_seq_len}}) {
    if (auto s = positive(name, v); !s.ok()) return s;
  }
  if (n_heads % n_kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config: n_kv_heads (", n_kv_heads,
                     ") must divide n_heads (", n_heads, ")"));
  }
  if (head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model config: head_dim must be even for RoPE, got ", head_dim));
  }
  if (!(rope_theta > 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model config: rope_theta must be positive, got ", rope_theta));
  }
  if (auto s = ValidateRopeScaling(rope_scaling); !s.ok()) return s;
  if (sliding_window < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model config: sliding_window must not be negative, got ",
                     sliding_window));
  }
  if (!(norm_eps > 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model config: norm_eps must be positive, got ", norm_eps));
  }
  if (!cache_kv_heads.empty()) {
    if (static_cast<int>(cache_kv_heads.size()) != n_layers) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model config: cache_kv_heads has ", cache_kv_heads.size(),
          " entries, expected one per layer (", n_layers, ")"));
    }
    for (int l = 0; l < n_layers; ++l) {
      const int g = cache_kv_heads[l];
      if (g <= 0 || n_heads % g != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "model config: cache_kv_heads[", l, "] = ", g,
            " must be positive and divide n_heads (", n_heads, ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace headroom::runtime
