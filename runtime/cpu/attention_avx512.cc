// Attention's inner loops for AVX-512F (compiled with -mavx512f -mfma -mf16c;
// called only when the CPU has them: attention_kernels.cc checks).
#include "runtime/cpu/attention_kernels.h"
#include "runtime/cpu/attention_tiles.h"
#include "runtime/cpu/simd_x86.h"

namespace headroom::runtime::cpu {

void Avx512AttentionScores(int heads, int group, int count, int d,
                           const float* q, const float* k, int64_t k_stride,
                           float* scores, int64_t ld) {
  attention_tiles::Scores<Avx512>(heads, group, count, d, q, k, k_stride,
                                  scores, ld);
}

void Avx512AttentionWeightedSum(int heads, int group, int count, int d,
                                const float* p, int64_t ld, const float* v,
                                int64_t v_stride, float* out) {
  attention_tiles::WeightedSum<Avx512>(heads, group, count, d, p, ld, v,
                                       v_stride, out);
}

}  // namespace headroom::runtime::cpu
