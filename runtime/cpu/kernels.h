// CPU kernels of the forward pass (fp32). Inputs are assumed valid: the
// backend validates the batch once at its entry.
#ifndef HEADROOM_RUNTIME_CPU_KERNELS_H_
#define HEADROOM_RUNTIME_CPU_KERNELS_H_

#include <cstdint>

#include "runtime/model/model_config.h"

namespace headroom::runtime::cpu {

// C[m, n] (ldc) = A[m, k] (lda) * B[n, k]^T (ldb) (+ C when accumulate).
// B is a weight matrix stored (out, in) row-major.
void MatMulTransB(int m, int n, int k, const float* a, int lda, const float* b,
                  int ldb, float* c, int ldc, bool accumulate = false);

// out[i] = w[i] * x[i] / sqrt(mean(x^2) + eps), one row of length n; out
// may be x (the sum is taken before any write).
void RmsNorm(const float* x, const float* w, int n, float eps, float* out);

// Rotates `n_heads` heads of size d of one token at position `pos` in place:
// pair (a, b) -> (a cos - b sin, a sin + b cos), angle pos * inv_freq[p]
// for pair index p (runtime/model/rope.h). The pairing is (2p, 2p+1) or
// (p, p + d/2) by `style`.
void ApplyRope(float* x, int n_heads, int d, int pos, const float* inv_freq,
               RopeStyle style);

// gate[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + exp(-x)).
void SiluMul(float* gate, const float* up, int64_t n);

// Softmax in place over x[0, n).
void Softmax(float* x, int n);

}  // namespace headroom::runtime::cpu

#endif  // HEADROOM_RUNTIME_CPU_KERNELS_H_
