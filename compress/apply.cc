#include "compress/apply.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "compress/head_order.h"
#include "compress/store_like.h"
#include "runtime/model/model_digest.h"

namespace headroom::compress {
namespace {

absl::Status CheckSize(const std::vector<float>& v, int64_t expected, int layer,
                       const char* name) {
  if (static_cast<int64_t>(v.size()) == expected) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("projections: layers.", layer, ".", name, " has ", v.size(),
                   " values, expected ", expected));
}

// A d x d map commutes with every RoPE rotation iff it is a complex scalar
// on each pair and zero across pairs (the pair frequencies differ).
bool CommutesWithRope(const float* m, int d, runtime::RopeStyle style) {
  float scale = 0.0f;
  for (int i = 0; i < d * d; ++i) scale = std::max(scale, std::abs(m[i]));
  const float tol = 1e-5f * std::max(scale, 1e-30f);
  std::vector<int> pair_of(d);
  for (int p = 0; p < d / 2; ++p) {
    const auto [a, b] = runtime::RopePair(style, d, p);
    pair_of[a] = pair_of[b] = p;
  }
  for (int r = 0; r < d; ++r) {
    for (int c = 0; c < d; ++c) {
      if (pair_of[r] != pair_of[c] && std::abs(m[r * d + c]) > tol)
        return false;
    }
  }
  for (int p = 0; p < d / 2; ++p) {
    const auto [a, b] = runtime::RopePair(style, d, p);
    if (std::abs(m[a * d + a] - m[b * d + b]) > tol ||
        std::abs(m[a * d + b] + m[b * d + a]) > tol)
      return false;
  }
  return true;
}

// out (rows x D) = left (rows x k) * right (k x D), row-major.
void MatMul(int rows, int cols, int k, const float* left, int ldl,
            const float* right, int ldr, float* out, int ldo) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, k, 1.0f,
              left, ldl, right, ldr, 0.0f, out, ldo);
}

}  // namespace

// out_i = M_i [b_it; ...; b_it+t-1] for each of `groups` encoders M_i of
// [d, k] (k = t * d): a bias through the matrices that fold its weights.
std::vector<float> FoldBias(const std::vector<float>& m,
                            const std::vector<float>& b, int groups, int d,
                            int k) {
  std::vector<float> out(int64_t{groups} * d);
  for (int i = 0; i < groups; ++i) {
    for (int r = 0; r < d; ++r) {
      double sum = 0;
      for (int c = 0; c < k; ++c) {
        sum += double{m[(int64_t{i} * d + r) * k + c]} * b[int64_t{i} * k + c];
      }
      out[int64_t{i} * d + r] = static_cast<float>(sum);
    }
  }
  return out;
}

absl::Status ApplyLayerProjection(const LayerProjection& p, int layer,
                                  runtime::ModelWeights* weights) {
  runtime::ModelConfig& c = weights->config;
  if (layer < 0 || layer >= c.n_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("projections: layer ", layer, " is out of range"));
  }
  runtime::LayerWeights& lw = weights->layers[layer];
  if (lw.has_post_rope_proj() || c.CacheKvHeads(layer) != c.n_kv_heads) {
    return absl::FailedPreconditionError(absl::StrCat(
        "projections: layer ", layer, " of the model is already compressed"));
  }
  const int n = c.n_kv_heads, h = c.n_heads, d = c.head_dim, D = c.dim;
  const int g = p.kv_heads;
  if (g <= 0 || n % g != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("projections: layers.", layer, ".kv_heads = ", g,
                     " does not divide the model's ", n, " KV heads"));
  }
  const int t = n / g, td = t * d, hd = h * d;
  for (auto [v, size, name] :
       {std::tuple{&p.key_encoder, int64_t{g} * d * td, "key_encoder"},
        std::tuple{&p.value_encoder, int64_t{g} * d * td, "value_encoder"},
        std::tuple{&p.query_decoder, int64_t{h} * d * d, "query_decoder"},
        std::tuple{&p.value_decoder, int64_t{h} * d * d, "value_decoder"}}) {
    if (auto s = CheckSize(*v, size, layer, name); !s.ok()) return s;
  }
  if (!p.wo.empty()) {
    if (auto s = CheckSize(p.wo, int64_t{D} * hd, layer, "wo"); !s.ok())
      return s;
  }
  if (p.key_mode == KeyMode::kPreRope && c.qk_norm) {
    return absl::FailedPreconditionError(absl::StrCat(
        "projections: layers.", layer, " (", p.method,
        ") folds the keys into W_K before RoPE, but the model normalizes each "
        "key head there (qk_norm): use a post-RoPE method (svd-a, svd-a-qa, "
        "svd-w)"));
  }
  if (p.key_mode == KeyMode::kPreRope) {
    for (int i = 0; i < g; ++i) {
      for (int s = 0; s < t; ++s) {
        // Block s of encoder i as a d x d matrix.
        std::vector<float> block(int64_t{d} * d);
        for (int r = 0; r < d; ++r) {
          for (int col = 0; col < d; ++col) {
            block[r * d + col] =
                p.key_encoder[(int64_t{i} * d + r) * td + s * d + col];
          }
        }
        if (!CommutesWithRope(block.data(), d, c.rope_style)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "projections: layers.", layer, ".key_encoder block (", i, ", ", s,
              ") does not commute with RoPE; it cannot be folded "
              "(key_mode pre_rope)"));
        }
      }
    }
    for (int j = 0; j < h; ++j) {
      if (!CommutesWithRope(p.query_decoder.data() + int64_t{j} * d * d, d,
                            c.rope_style)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "projections: layers.", layer, ".query_decoder of head ", j,
            " does not commute with RoPE; it cannot be folded"));
      }
    }
  }

  // Regrouping first: the maps below act on contiguous groups of the
  // reordered heads.
  runtime::LayerWeights reordered;
  const runtime::LayerWeights* src = &lw;
  if (!p.kv_order.empty()) {
    reordered = lw;
    if (auto s = PermuteKvHeads(c, p.kv_order, layer, &reordered); !s.ok())
      return s;
    src = &reordered;
  }
  // fp32 views of the layer's matrices (shared when already fp32).
  const runtime::Tensor wq_in = src->wq.AsF32(), wk_in = src->wk.AsF32(),
                        wv_in = src->wv.AsF32(), wo_in = src->wo.AsF32();
  // Values: W~_V,i = E_V,i [W_V,it; ...]; W~_O,j = W_O,j V_j.
  std::vector<float> wv(int64_t{g} * d * D);
  for (int i = 0; i < g; ++i) {
    MatMul(d, D, td, p.value_encoder.data() + int64_t{i} * d * td, td,
           wv_in.f32() + int64_t{i} * td * D, D, wv.data() + int64_t{i} * d * D,
           D);
  }
  std::vector<float> wo(int64_t{D} * hd);
  if (!p.wo.empty()) {
    wo = p.wo;
  } else {
    for (int j = 0; j < h; ++j) {
      MatMul(D, d, d, wo_in.f32() + int64_t{j} * d, hd,
             p.value_decoder.data() + int64_t{j} * d * d, d,
             wo.data() + int64_t{j} * d, hd);
    }
  }
  if (p.key_mode == KeyMode::kPreRope) {
    // W~_K,i = E_K,i [W_K,it; ...]; W~_Q,j = Q_j W_Q,j.
    std::vector<float> wk(int64_t{g} * d * D), wq(int64_t{hd} * D);
    for (int i = 0; i < g; ++i) {
      MatMul(d, D, td, p.key_encoder.data() + int64_t{i} * d * td, td,
             wk_in.f32() + int64_t{i} * td * D, D,
             wk.data() + int64_t{i} * d * D, D);
    }
    for (int j = 0; j < h; ++j) {
      MatMul(d, D, d, p.query_decoder.data() + int64_t{j} * d * d, d,
             wq_in.f32() + int64_t{j} * d * D, D,
             wq.data() + int64_t{j} * d * D, D);
    }
    // The replaced matrices' checkpoint pages leave the resident set.
    lw.wk.DropMappedPages();
    lw.wq.DropMappedPages();
    if (auto s =
            StoreLike(std::move(wk), int64_t{g} * d, D, &lw.wk, layer, "wk");
        !s.ok())
      return s;
    if (auto s = StoreLike(std::move(wq), hd, D, &lw.wq, layer, "wq"); !s.ok())
      return s;
  } else {
    // The runtime projects the rotated heads of the reordered W_K / W_Q.
    if (src != &lw) {
      lw.wk.DropMappedPages();
      lw.wq.DropMappedPages();
      lw.wk = reordered.wk;
      lw.wq = reordered.wq;
    }
    lw.key_cache_proj = p.key_encoder;
    lw.query_proj = p.query_decoder;
  }
  // Biases move with their matrices: b~_V,i = E_V,i [b_V,it; ...] and, when
  // the keys fold, b~_K,i = E_K,i [b_K,it; ...], b~_Q,j = Q_j b_Q,j. (A
  // post-RoPE projection applies after the bias, so b_K, b_Q stay.)
  if (!lw.bv.empty()) lw.bv = FoldBias(p.value_encoder, lw.bv, g, d, td);
  if (p.key_mode == KeyMode::kPreRope && !lw.bk.empty()) {
    lw.bk = FoldBias(p.key_encoder, lw.bk, g, d, td);
    lw.bq = FoldBias(p.query_decoder, lw.bq, h, d, d);
  }
  lw.wv.DropMappedPages();
  lw.wo.DropMappedPages();
  if (auto s = StoreLike(std::move(wv), int64_t{g} * d, D, &lw.wv, layer, "wv");
      !s.ok())
    return s;
  if (auto s = StoreLike(std::move(wo), D, hd, &lw.wo, layer, "wo"); !s.ok())
    return s;
  if (c.cache_kv_heads.empty()) c.cache_kv_heads.assign(c.n_layers, n);
  c.cache_kv_heads[layer] = g;
  return absl::OkStatus();
}

absl::Status ApplyProjections(const Projections& p,
                              runtime::ModelWeights* weights) {
  const runtime::ModelConfig& c = weights->config;
  struct Field {
    const char* name;
    int file, model;
  };
  for (const Field& f :
       {Field{"n_layers", p.n_layers, c.n_layers}, Field{"dim", p.dim, c.dim},
        Field{"n_heads", p.n_heads, c.n_heads},
        Field{"n_kv_heads", p.n_kv_heads, c.n_kv_heads},
        Field{"head_dim", p.head_dim, c.head_dim}}) {
    if (f.file != f.model) {
      return absl::InvalidArgumentError(
          absl::StrCat("projections were made for a model with ", f.name, " = ",
                       f.file, "; this model has ", f.model));
    }
  }
  if (static_cast<int>(p.layers.size()) != c.n_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("projections hold ", p.layers.size(),
                     " layers; the model has ", c.n_layers));
  }
  const std::string digest = runtime::ModelDigest(*weights);
  if (p.model_digest != digest) {
    return absl::InvalidArgumentError(
        absl::StrCat("projections were made for model digest ", p.model_digest,
                     "; this model's digest is ", digest));
  }
  runtime::ModelWeights staged = *weights;  // all or nothing
  for (int l = 0; l < c.n_layers; ++l) {
    if (auto s = ApplyLayerProjection(p.layers[l], l, &staged); !s.ok())
      return s;
  }
  if (auto s = staged.Validate(); !s.ok()) return s;
  *weights = std::move(staged);
  return absl::OkStatus();
}

}  // namespace headroom::compress
