#include "runtime/model/model_digest.h"

#include "absl/strings/str_cat.h"
#include "runtime/model/rope.h"
#include "runtime/util/sha256.h"

namespace headroom::runtime {

std::string ModelDigest(const ModelWeights& w) {
  const ModelConfig& c = w.config;
  Sha256 h;
  std::string shape = absl::StrCat(
      "headroom-model-v1 dim=", c.dim, " hidden=", c.hidden_dim,
      " layers=", c.n_layers, " heads=", c.n_heads, " kv=", c.n_kv_heads,
      " head_dim=", c.head_dim, " vocab=", c.vocab_size,
      " rope=", RopeStyleName(c.rope_style), " theta=", c.rope_theta,
      " tied=", c.tied_embeddings);
  // Features of newer architectures, named only when used, so the digests
  // of LLaMA 1/2 models (and the projections made for them) are unchanged.
  std::string features;
  if (c.rope_scaling.type != RopeScaling::Type::kNone) {
    absl::StrAppend(
        &features, " rope_scaling=", RopeScalingTypeName(c.rope_scaling.type),
        ",", c.rope_scaling.factor, ",", c.rope_scaling.low_freq_factor, ",",
        c.rope_scaling.high_freq_factor, ",",
        c.rope_scaling.original_max_position);
  }
  if (c.qkv_bias) features += " qkv_bias";
  if (c.output_bias) features += " output_bias";
  if (c.mlp_bias) features += " mlp_bias";
  if (c.qk_norm) features += " qk_norm";
  if (c.sliding_window > 0) {
    absl::StrAppend(&features, " sliding_window=", c.sliding_window);
  }
  shape += features;
  h.Update(shape.data(), shape.size());
  // The values as fp32, whatever the dtype they are served in, so that a
  // bf16 checkpoint served as bf16 or as f32 has one digest.
  auto put = [&h](const std::vector<float>& t) {
    h.Update(t.data(), t.size() * sizeof(float));
  };
  std::vector<float> row;
  auto put_matrix = [&h, &row](const Tensor& t) {
    if (const float* f = t.f32(); f != nullptr) {
      h.Update(f, t.value_count() * sizeof(float));
      return;
    }
    row.resize(t.cols());
    for (int64_t r = 0; r < t.rows(); ++r) {
      t.RowToFloat(r, row.data());
      h.Update(row.data(), row.size() * sizeof(float));
    }
  };
  put_matrix(w.token_embedding);
  for (const LayerWeights& l : w.layers) {
    put(l.rms_att);
    for (const Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo}) put_matrix(*t);
    put(l.rms_ffn);
    for (const Tensor* t : {&l.w1, &l.w2, &l.w3}) put_matrix(*t);
    put(l.key_cache_proj);
    put(l.query_proj);
    for (const std::vector<float>* v : {&l.bq, &l.bk, &l.bv, &l.bo, &l.b1,
                                        &l.b2, &l.b3, &l.q_norm, &l.k_norm}) {
      put(*v);
    }
  }
  put(w.rms_final);
  put_matrix(w.wcls);
  return h.HexDigest();
}

}  // namespace headroom::runtime
