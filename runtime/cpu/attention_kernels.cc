#include "runtime/cpu/attention_kernels.h"

#include "runtime/cpu/matmul.h"

namespace headroom::runtime::cpu {

// Defined in attention_<isa>.cc, each compiled for its ISA.
#if defined(__x86_64__)
void Avx2AttentionScores(int heads, int group, int count, int d, const float* q,
                         const float* k, int64_t k_stride, float* scores,
                         int64_t ld);
void Avx2AttentionWeightedSum(int heads, int group, int count, int d,
                              const float* p, int64_t ld, const float* v,
                              int64_t v_stride, float* out);
void Avx512AttentionScores(int heads, int group, int count, int d,
                           const float* q, const float* k, int64_t k_stride,
                           float* scores, int64_t ld);
void Avx512AttentionWeightedSum(int heads, int group, int count, int d,
                                const float* p, int64_t ld, const float* v,
                                int64_t v_stride, float* out);
#endif

namespace {

// Built with -ffp-contract=off: no fused multiply-adds, so the portable
// recipe is the same on every CPU.
void PortableScores(int heads, int group, int count, int d, const float* q,
                    const float* k, int64_t k_stride, float* scores,
                    int64_t ld) {
  for (int r = 0; r < count; ++r) {
    for (int u = 0; u < heads * group; ++u) {
      const float* qu = q + int64_t{u} * d;
      const float* kr = k + r * k_stride + int64_t{u / group} * d;
      float sum = 0.0f;
      for (int i = 0; i < d; ++i) sum += qu[i] * kr[i];
      scores[u * ld + r] = sum;
    }
  }
}

void PortableWeightedSum(int heads, int group, int count, int d, const float* p,
                         int64_t ld, const float* v, int64_t v_stride,
                         float* out) {
  for (int r = 0; r < count; ++r) {
    for (int u = 0; u < heads * group; ++u) {
      const float pu = p[u * ld + r];
      const float* vr = v + r * v_stride + int64_t{u / group} * d;
      float* ou = out + int64_t{u} * d;
      for (int i = 0; i < d; ++i) ou[i] += pu * vr[i];
    }
  }
}

}  // namespace

AttentionKernels PortableAttentionKernels() {
  return {"portable", &PortableScores, &PortableWeightedSum};
}

// Each ISA is usable exactly where MatMul's kernels of that ISA are (the
// same CPU checks: matmul.cc).
AttentionKernels Avx2AttentionKernels() {
#if defined(__x86_64__)
  if (Avx2MatMulKernels().run != nullptr) {
    return {"avx2", &Avx2AttentionScores, &Avx2AttentionWeightedSum};
  }
#endif
  return {"avx2", nullptr, nullptr};
}

AttentionKernels Avx512AttentionKernels() {
#if defined(__x86_64__)
  if (Avx512MatMulKernels().run != nullptr) {
    return {"avx512", &Avx512AttentionScores, &Avx512AttentionWeightedSum};
  }
#endif
  return {"avx512", nullptr, nullptr};
}

const AttentionKernels& ProcessAttentionKernels() {
  static const AttentionKernels kernels = [] {
    for (AttentionKernels k :
         {Avx512AttentionKernels(), Avx2AttentionKernels()}) {
      if (k.scores != nullptr) return k;
    }
    return PortableAttentionKernels();
  }();
  return kernels;
}

}  // namespace headroom::runtime::cpu
