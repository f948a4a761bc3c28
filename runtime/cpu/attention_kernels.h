// The inner loops of CPU attention (CpuOps::Attention), one (token, cache
// head) at a time, in the best ISA this CPU runs, chosen once per process
// as MatMul's kernels are (matmul.h):
//
//   const AttentionKernels& k = ProcessAttentionKernels();
//   k.scores(heads, group, count, d, q, keys, row, scores, len);
//   k.weighted_sum(heads, group, count, d, probs, len, values, row, out);
//
// Each score and each output element follows one recipe per ISA, whatever
// the heads, the group, the count of positions or where a page boundary
// falls
// (attention_tiles.h), so attention has the same bits for a sequence alone,
// in any batch and in any prefill chunk.
#ifndef HEADROOM_RUNTIME_CPU_ATTENTION_KERNELS_H_
#define HEADROOM_RUNTIME_CPU_ATTENTION_KERNELS_H_

#include <cstdint>

namespace headroom::runtime::cpu {

// Both take `heads` consecutive cache heads c, each read by `group`
// consecutive query rows u = c * group + j (GQA), and positions r < count of
// the cache, a row of it `*_stride` floats apart with head c at c * d.
struct AttentionKernels {
  const char* name = nullptr;
  // scores[u * ld + r] = q_u . k_{r, c} over d values, u < heads * group,
  // q_u = q + u * d, k_{r, c} = k + r * k_stride + c * d, c = u / group.
  void (*scores)(int heads, int group, int count, int d, const float* q,
                 const float* k, int64_t k_stride, float* scores,
                 int64_t ld) = nullptr;
  // out[u * d + i] += sum over r < count, ascending, of
  // p[u * ld + r] * v_{r, c}[i], v_{r, c} = v + r * v_stride + c * d.
  void (*weighted_sum)(int heads, int group, int count, int d, const float* p,
                       int64_t ld, const float* v, int64_t v_stride,
                       float* out) = nullptr;
};

// The kernels this process uses: AVX-512, AVX2 + FMA or portable C++, the
// first the CPU has.
const AttentionKernels& ProcessAttentionKernels();
// Each ISA's kernels; null functions when the build or the CPU lacks the
// ISA. (Tests run every one the CPU has against a scalar reference.)
AttentionKernels PortableAttentionKernels();
AttentionKernels Avx2AttentionKernels();
AttentionKernels Avx512AttentionKernels();

}  // namespace headroom::runtime::cpu

#endif  // HEADROOM_RUNTIME_CPU_ATTENTION_KERNELS_H_
