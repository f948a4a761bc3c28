// MatMul: C[m, n] = A[m, k] * W[n, k]^T (+ C), the projections of the CPU
// forward pass, written for decoding and for batch invariance.
//
//   cpu::MatMul(pool, T, out_dim, in_dim, x, in_dim, w, in_dim, y, out_dim);
//
// Batch invariance: every output element is one dot product computed by the
// same recipe whatever m, the tile it falls in, the blocking or the number
// of threads: one vector accumulator of the kernel's width, k ascending in
// vector steps (q8_0: one block of 32 at a time), a zero-masked last step,
// then a fixed horizontal sum; the accumulate case adds that sum to C once.
// A is packed (bf16, q8) row by row, so a row's packed form does not depend
// on the others. So a token's row of C has the same bits alone, in any batch
// and in any prefill chunk. (A BLAS sgemm picks kernels and splits k by
// shape, which changes the bits.) The kernels are chosen by the CPU and the
// weight dtype only, never by m.
//
// Decoding (m = 1) streams the weight rows one after the other, each once,
// without repacking: one contiguous read per thread, which the hardware
// prefetchers follow (several interleaved row streams of a few KiB each
// halved the bandwidth on Zen 4); threads take disjoint ranges of rows.
// Prefill tiles MR tokens x NR weight rows in registers and blocks both so
// a block of each stays in L2. The ISA (AVX-512 with VNNI and BF16, AVX-512,
// AVX2 + FMA, or portable C++) is chosen once per process from the CPU
// (MatMulIsa()).
#ifndef HEADROOM_RUNTIME_CPU_MATMUL_H_
#define HEADROOM_RUNTIME_CPU_MATMUL_H_

#include <cstdint>

#include "runtime/util/thread_pool.h"
#include "runtime/weights/tensor.h"
#include "runtime/weights/weight_dtype.h"

namespace headroom::runtime::cpu {

// A weight matrix of n rows of k weights in `dtype`, rows `row_bytes`
// apart (for q8_0, k is a multiple of 32 and a row is k / 32 blocks).
struct WeightMatrix {
  WeightDtype dtype = WeightDtype::kF32;
  const void* data = nullptr;
  int64_t row_bytes = 0;
};

// The weight matrix of a Tensor as it is stored.
inline WeightMatrix MatrixOf(const Tensor& t) {
  return {t.dtype(), t.data(), t.row_bytes()};
}

void MatMul(ThreadPool& pool, int m, int n, int k, const float* a, int64_t lda,
            const WeightMatrix& w, float* c, int64_t ldc,
            bool accumulate = false);
// C[m, w.rows()] = A[m, w.cols()] W^T (+ C).
inline void MatMul(ThreadPool& pool, int m, const float* a, int64_t lda,
                   const Tensor& w, float* c, int64_t ldc,
                   bool accumulate = false) {
  MatMul(pool, m, static_cast<int>(w.rows()), static_cast<int>(w.cols()), a,
         lda, MatrixOf(w), c, ldc, accumulate);
}
// fp32 weights, rows `ldw` floats apart.
void MatMul(ThreadPool& pool, int m, int n, int k, const float* a, int64_t lda,
            const float* w, int64_t ldw, float* c, int64_t ldc,
            bool accumulate = false);
// Weights in another dtype: f16 (and bf16 on CPUs without AVX-512 BF16)
// convert exactly to fp32 inside the kernel, so the product has the bits of
// MatMul over those fp32 values. bf16 on AVX-512 BF16 CPUs multiplies A
// rounded to bf16 with the CPU's bf16 dot product (vdpbf16ps); q8_0
// multiplies A quantized to 8-bit blocks (ActivationForm::kQ8) with integer
// dot products. Either way each output still has one recipe whatever m.

// Whether the CPU converts fp16 in hardware (F16C), which the AVX2 and
// AVX-512 kernels use.
bool CpuHasF16c();

// "avx512-vnni-bf16", "avx512", "avx2" or "portable": the kernels this
// process uses.
const char* MatMulIsa();

// What a kernel multiplies W against: A's fp32 rows as given, or A packed
// first (once per MatMul, by PackActivations, whatever m):
//   kBf16: each value rounded to bf16 (nearest, ties to even), rows zero
//          padded to a multiple of 32 values;
//   kQ8:   per block of 32 values, d = max|x| / 127 as fp32 and
//          q = round(x / d) to nearest even (as x * (1 / d)); d = 0 and
//          q = 0 for a block of zeros or one whose 1 / d overflows, and
//          d = NaN for a block holding NaN or infinity (the products are
//          then NaN, as in fp32).
enum class ActivationForm { kF32, kBf16, kQ8 };
struct Q8ActivationBlock {
  float scale = 0.0f;
  int8_t q[32] = {};
};
static_assert(sizeof(Q8ActivationBlock) == 36);
// Bytes of one packed row of k values (0 for kF32); kQ8 needs k % 32 == 0.
int64_t PackedRowBytes(ActivationForm form, int k);
// Rows [0, m) of A packed as `form` into `out`, PackedRowBytes apart.
void PackActivations(ActivationForm form, int m, int k, const float* a,
                     int64_t lda, uint8_t* out);

// One product as the kernels see it: C[m, rows of w] = A W^T (+ C), with
// A's m rows in the form the kernels take for w.dtype: fp32 or packed rows,
// `a_stride` bytes apart.
struct MatMulProblem {
  int m = 0;
  int k = 0;
  const void* a = nullptr;
  int64_t a_stride = 0;
  WeightMatrix w;
  float* c = nullptr;
  int64_t ldc = 0;
  bool accumulate = false;
};

// The kernels of one ISA: `run` computes columns [n_begin, n_end) of C
// (rows of W), all m rows. Exposed so tests can run each ISA the CPU
// supports; MatMul calls the process's choice.
struct MatMulKernels {
  const char* name = nullptr;
  ActivationForm (*form)(WeightDtype dtype) = nullptr;
  void (*run)(const MatMulProblem& p, int n_begin, int n_end) = nullptr;
};
// C[m, n] = A W^T (+ C) with `kernels` on this thread, packing A first as
// the kernels need (what MatMul does, without threads).
void RunKernels(const MatMulKernels& kernels, int m, int n, int k,
                const float* a, int64_t lda, const WeightMatrix& w, float* c,
                int64_t ldc, bool accumulate);
MatMulKernels PortableMatMulKernels();
// Null `run` when the build or the CPU lacks the ISA. "avx512" needs
// AVX-512F; "avx512-vnni-bf16" AVX-512 F, BW, VL, VNNI and BF16 (Zen 4,
// Sapphire Rapids), and differs from "avx512" in bf16 and q8_0.
MatMulKernels Avx2MatMulKernels();
MatMulKernels Avx512MatMulKernels();
MatMulKernels Avx512VnniBf16MatMulKernels();

}  // namespace headroom::runtime::cpu

#endif  // HEADROOM_RUNTIME_CPU_MATMUL_H_
