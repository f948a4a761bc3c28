#include "compress/layer_attention.h"

#include <cmath>

#include "runtime/cpu/kernels.h"

namespace headroom::compress {

void DenseLayerAttention(const runtime::ModelConfig& c, int layer,
                         const runtime::LayerWeights& lw, int g,
                         const float* xb, int T, std::vector<float>* out) {
  namespace cpu = runtime::cpu;
  const int D = c.dim, d = c.head_dim, h = c.n_heads;
  const bool proj = lw.has_post_rope_proj();
  const int nk = proj ? c.n_kv_heads : g;
  std::vector<float> q(int64_t{T} * h * d), k(int64_t{T} * nk * d),
      v(int64_t{T} * g * d);
  // fp32 values of the matrices (shared when already fp32).
  const runtime::Tensor wq = lw.wq.AsF32(), wk = lw.wk.AsF32(),
                        wv = lw.wv.AsF32();
  cpu::MatMulTransB(T, h * d, D, xb, D, wq.f32(), D, q.data(), h * d);
  cpu::MatMulTransB(T, nk * d, D, xb, D, wk.f32(), D, k.data(), nk * d);
  cpu::MatMulTransB(T, g * d, D, xb, D, wv.f32(), D, v.data(), g * d);
  for (int t = 0; t < T; ++t) {
    cpu::ApplyRope(q.data() + int64_t{t} * h * d, h, d, t, c.rope_theta,
                   c.rope_style);
    cpu::ApplyRope(k.data() + int64_t{t} * nk * d, nk, d, t, c.rope_theta,
                   c.rope_style);
  }
  if (proj) {
    const int tg = nk / g;
    std::vector<float> kp(int64_t{T} * g * d), qp(int64_t{T} * h * d);
    for (int i = 0; i < g; ++i) {
      cpu::MatMulTransB(T, d, tg * d, k.data() + int64_t{i} * tg * d, nk * d,
                        lw.key_cache_proj.data() + int64_t{i} * d * tg * d,
                        tg * d, kp.data() + int64_t{i} * d, g * d);
    }
    for (int j = 0; j < h; ++j) {
      cpu::MatMulTransB(T, d, d, q.data() + int64_t{j} * d, h * d,
                        lw.query_proj.data() + int64_t{j} * d * d, d,
                        qp.data() + int64_t{j} * d, h * d);
    }
    k = std::move(kp);
    q = std::move(qp);
  }
  out->assign(int64_t{T} * h * d, 0.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  std::vector<float> scores(T);
  for (int t = 0; t < T; ++t) {
    for (int j = 0; j < h; ++j) {
      const int kv = j / (h / g);
      const float* qj = q.data() + (int64_t{t} * h + j) * d;
      for (int p = 0; p <= t; ++p) {
        const float* kp = k.data() + (int64_t{p} * g + kv) * d;
        float dot = 0.0f;
        for (int i = 0; i < d; ++i) dot += qj[i] * kp[i];
        scores[p] = dot * scale;
      }
      cpu::Softmax(scores.data(), t + 1);
      float* o = out->data() + (int64_t{t} * h + j) * d;
      for (int p = 0; p <= t; ++p) {
        const float* vp = v.data() + (int64_t{p} * g + kv) * d;
        for (int i = 0; i < d; ++i) o[i] += scores[p] * vp[i];
      }
    }
  }
}

}  // namespace headroom::compress
