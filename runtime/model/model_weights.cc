#include "runtime/model/model_weights.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
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

// A matrix must be [rows, cols] and hold rows * cols values.
absl::Status CheckShape(const Tensor& t, int64_t rows, int64_t cols,
                        const std::string& name) {
  if (t.value_count() != t.numel()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", name, " has ", t.value_count(),
                     " values, expected ", rows * cols));
  }
  if (t.rows() == rows && t.cols() == cols) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("tensor ", name, " is [", t.rows(), ", ", t.cols(),
                   "], expected [", rows, ", ", cols, "]"));
}

// Calls f(tensor, name) for every matrix of `w`, in checkpoint order.
template <typename F>
void ForEachMatrix(const ModelWeights& w, F&& f) {
  f(w.token_embedding, std::string("token_embedding"));
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& lw = w.layers[l];
    const std::string p = absl::StrCat("layers.", l, ".");
    for (const auto& [t, name] :
         {std::pair{&lw.wq, "wq"}, std::pair{&lw.wk, "wk"},
          std::pair{&lw.wv, "wv"}, std::pair{&lw.wo, "wo"},
          std::pair{&lw.w1, "w1"}, std::pair{&lw.w2, "w2"},
          std::pair{&lw.w3, "w3"}}) {
      f(*t, p + name);
    }
  }
  if (!w.wcls.empty()) f(w.wcls, std::string("wcls"));
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

namespace {

// Whether any of n 16-bit floats at `bytes` (f16 or bf16: `exponent` is the
// mask of its exponent bits) is NaN or infinite, by the same branch-free
// block test as FirstNonFinite, on the bits (views may be unaligned, so
// each block is copied out first).
bool AnyNonFinite16(const void* bytes, int64_t n, uint16_t exponent) {
  constexpr int64_t kBlock = 4096;
  uint16_t block[kBlock];
  const auto* p = static_cast<const unsigned char*>(bytes);
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t count = std::min(kBlock, n - begin);
    std::memcpy(block, p + 2 * begin, 2 * count);
    uint32_t bad = 0;
    for (int64_t i = 0; i < count; ++i) {
      bad |= static_cast<uint32_t>((block[i] & exponent) == exponent);
    }
    if (bad != 0) return true;
  }
  return false;
}

}  // namespace

absl::Status CheckFiniteTensor(const Tensor& tensor, std::string_view name) {
  if (const float* f = tensor.f32(); f != nullptr) {
    return CheckFiniteTensor(absl::MakeConstSpan(f, tensor.value_count()),
                             name);
  }
  // 16-bit dtypes: a pass over the bits; only a tensor that has a bad value
  // is widened, to name it.
  if (tensor.dtype() == WeightDtype::kBF16 &&
      !AnyNonFinite16(tensor.data(), tensor.numel(), 0x7f80u)) {
    return absl::OkStatus();
  }
  if (tensor.dtype() == WeightDtype::kF16 &&
      !AnyNonFinite16(tensor.data(), tensor.numel(), 0x7c00u)) {
    return absl::OkStatus();
  }
  // q8_0: q is an int8, so a weight q * d is finite exactly when the
  // block's f16 scale d is.
  if (tensor.dtype() == WeightDtype::kQ8_0) {
    const auto* bytes = static_cast<const unsigned char*>(tensor.data());
    const int64_t blocks = tensor.bytes() / int64_t{sizeof(Q8_0Block)};
    bool bad = false;
    for (int64_t b = 0; b < blocks && !bad; ++b) {
      uint16_t scale;
      std::memcpy(&scale, bytes + b * sizeof(Q8_0Block), sizeof(scale));
      bad = (scale & 0x7c00u) == 0x7c00u;
    }
    if (!bad) return absl::OkStatus();
  }
  std::vector<float> row(tensor.cols());
  for (int64_t r = 0; r < tensor.rows(); ++r) {
    tensor.RowToFloat(r, row.data());
    const int64_t i = FirstNonFinite(row);
    if (i < 0) continue;
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", std::string(name), " has ", row[i],
                     " at index ", r * tensor.cols() + i, " (of ",
                     tensor.numel(), " values): the weights must be finite"));
  }
  return absl::OkStatus();
}

absl::Status ModelWeights::CheckFinite() const {
  absl::Status status;
  ForEachMatrix(*this, [&](const Tensor& t, const std::string& name) {
    if (status.ok()) status = CheckFiniteTensor(t, name);
  });
  if (!status.ok()) return status;
  for (size_t l = 0; l < layers.size(); ++l) {
    for (const auto& [t, name] : layers[l].Vectors()) {
      if (auto s = CheckFiniteTensor(*t, absl::StrCat("layers.", l, ".", name));
          !s.ok())
        return s;
    }
  }
  return CheckFiniteTensor(rms_final, "rms_final");
}

int64_t ModelWeights::weight_bytes() const {
  int64_t bytes = 0;
  ForEachMatrix(
      *this, [&](const Tensor& t, const std::string&) { bytes += t.bytes(); });
  const auto floats = [](const std::vector<float>& v) {
    return static_cast<int64_t>(v.size() * sizeof(float));
  };
  for (const LayerWeights& w : layers) {
    for (const auto& [v, name] : w.Vectors()) bytes += floats(*v);
  }
  return bytes + floats(rms_final);
}

int64_t ModelWeights::parameter_count() const {
  int64_t n = static_cast<int64_t>(rms_final.size());
  ForEachMatrix(*this,
                [&](const Tensor& t, const std::string&) { n += t.numel(); });
  for (const LayerWeights& w : layers) {
    for (const auto& [v, name] : w.Vectors()) {
      n += static_cast<int64_t>(v->size());
    }
  }
  return n;
}

std::string ModelWeights::DtypeSummary() const {
  std::map<std::string, int> count;
  ForEachMatrix(*this, [&](const Tensor& t, const std::string&) {
    ++count[WeightDtypeName(t.dtype())];
  });
  // The most common dtype names the model; others are counted after it.
  auto main = std::max_element(
      count.begin(), count.end(),
      [](const auto& a, const auto& b) { return a.second < b.second; });
  if (main == count.end()) return "f32";
  std::string out = main->first;
  std::string others;
  for (const auto& [name, n] : count) {
    if (name == main->first) continue;
    absl::StrAppend(&others, others.empty() ? "" : ", ", n,
                    n == 1 ? " tensor " : " tensors ", name);
  }
  if (!others.empty()) absl::StrAppend(&out, " (", others, ")");
  return out;
}

namespace {

// The biases and per-head norms: present with their sizes exactly when the
// config asks for them.
absl::Status ValidateLayerExtras(const ModelConfig& c, const LayerWeights& w,
                                 int64_t q_rows, int64_t k_rows, int64_t v_rows,
                                 const std::string& prefix) {
  struct Extra {
    const std::vector<float>* v;
    bool wanted;
    int64_t size;
    const char* name;
    const char* flag;
  };
  const Extra extras[] = {
      {&w.bq, c.qkv_bias, q_rows, "bq", "qkv_bias"},
      {&w.bk, c.qkv_bias, k_rows, "bk", "qkv_bias"},
      {&w.bv, c.qkv_bias, v_rows, "bv", "qkv_bias"},
      {&w.bo, c.output_bias, c.dim, "bo", "output_bias"},
      {&w.b1, c.mlp_bias, c.hidden_dim, "b1", "mlp_bias"},
      {&w.b3, c.mlp_bias, c.hidden_dim, "b3", "mlp_bias"},
      {&w.b2, c.mlp_bias, c.dim, "b2", "mlp_bias"},
      {&w.q_norm, c.qk_norm, c.head_dim, "q_norm", "qk_norm"},
      {&w.k_norm, c.qk_norm, c.head_dim, "k_norm", "qk_norm"}};
  for (const Extra& e : extras) {
    if (!e.wanted && !e.v->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, e.name, " is set but the config's ", e.flag, " is false"));
    }
    if (e.wanted) {
      if (auto s = CheckSize(*e.v, e.size, prefix + e.name); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ModelWeights::Validate() const {
  const ModelConfig& c = config;
  if (auto s = c.Validate(); !s.ok()) return s;
  const int64_t D = c.dim, d = c.head_dim, h = c.n_heads, F = c.hidden_dim;
  if (auto s = CheckShape(token_embedding, c.vocab_size, D, "token_embedding");
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
    for (const auto& [t, n, name] : {std::tuple{&w.rms_att, D, "rms_att"},
                                     std::tuple{&w.rms_ffn, D, "rms_ffn"}}) {
      if (auto s = CheckSize(*t, n, p + name); !s.ok()) return s;
    }
    struct Item {
      const Tensor* t;
      int64_t rows, cols;
      const char* name;
    };
    const Item items[] = {{&w.wq, h * d, D, "wq"}, {&w.wk, nk * d, D, "wk"},
                          {&w.wv, g * d, D, "wv"}, {&w.wo, D, h * d, "wo"},
                          {&w.w1, F, D, "w1"},     {&w.w2, D, F, "w2"},
                          {&w.w3, F, D, "w3"}};
    for (const Item& it : items) {
      if (auto s = CheckShape(*it.t, it.rows, it.cols, p + it.name); !s.ok())
        return s;
    }
    if (auto s = ValidateLayerExtras(c, w, h * d, nk * d, g * d, p); !s.ok()) {
      return s;
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
    if (auto s = CheckShape(wcls, c.vocab_size, D, "wcls"); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace headroom::runtime
