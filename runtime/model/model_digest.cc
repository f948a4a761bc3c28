#include "runtime/model/model_digest.h"

#include "absl/strings/str_cat.h"
#include "runtime/util/sha256.h"

namespace headroom::runtime {

std::string ModelDigest(const ModelWeights& w) {
  const ModelConfig& c = w.config;
  Sha256 h;
  const std::string shape = absl::StrCat(
      "headroom-model-v1 dim=", c.dim, " hidden=", c.hidden_dim,
      " layers=", c.n_layers, " heads=", c.n_heads, " kv=", c.n_kv_heads,
      " head_dim=", c.head_dim, " vocab=", c.vocab_size,
      " rope=", RopeStyleName(c.rope_style), " theta=", c.rope_theta,
      " tied=", c.tied_embeddings);
  h.Update(shape.data(), shape.size());
  auto put = [&h](const std::vector<float>& t) {
    h.Update(t.data(), t.size() * sizeof(float));
  };
  put(w.token_embedding);
  for (const LayerWeights& l : w.layers) {
    for (const auto* t :
         {&l.rms_att, &l.wq, &l.wk, &l.wv, &l.wo, &l.rms_ffn, &l.w1, &l.w2,
          &l.w3, &l.key_cache_proj, &l.query_proj}) {
      put(*t);
    }
  }
  put(w.rms_final);
  put(w.wcls);
  return h.HexDigest();
}

}  // namespace headroom::runtime
