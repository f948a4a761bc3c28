#include "runtime/cpu/kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

namespace headroom::runtime::cpu {

void MatMulTransB(int m, int n, int k, const float* a, int lda, const float* b,
                  int ldb, float* c, int ldc, bool accumulate) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, lda, b,
              ldb, accumulate ? 1.0f : 0.0f, c, ldc);
}

void RmsNorm(const float* x, const float* w, int n, float eps, float* out) {
  float ss = 0.0f;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  ss = 1.0f / std::sqrt(ss / n + eps);
  for (int i = 0; i < n; ++i) out[i] = w[i] * (ss * x[i]);
}

void ApplyRope(float* x, int n_heads, int d, int pos, const float* inv_freq,
               RopeStyle style) {
  const int half = d / 2;
  for (int p = 0; p < half; ++p) {
    // Same float arithmetic as llama2.c's run.c, so logits match it closely.
    const float angle = static_cast<float>(pos) * inv_freq[p];
    const float c = std::cos(angle), s = std::sin(angle);
    const auto [ia, ib] = RopePair(style, d, p);
    for (int head = 0; head < n_heads; ++head) {
      float* v = x + int64_t{head} * d;
      const float a = v[ia], b = v[ib];
      v[ia] = a * c - b * s;
      v[ib] = a * s + b * c;
    }
  }
}

void SiluMul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void Softmax(float* x, int n) {
  const float max = *std::max_element(x, x + n);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace headroom::runtime::cpu
