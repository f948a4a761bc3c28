// MatMul: C[m, n] = A[m, k] * W[n, k]^T (+ C), the projections of the CPU
// forward pass, written for decoding and for batch invariance.
//
//   cpu::MatMul(pool, T, out_dim, in_dim, x, in_dim, w, in_dim, y, out_dim);
//
// Batch invariance: every output element is one dot product computed by the
// same recipe whatever m, the tile it falls in, the blocking or the number
// of threads: one vector accumulator of the ISA's width, k ascending in
// vector steps, a zero-masked last step, then a fixed horizontal sum; the
// accumulate case adds that sum to C once. So a token's row of C has the
// same bits alone, in any batch and in any prefill chunk. (A BLAS sgemm
// picks kernels and splits k by shape, which changes the bits.)
//
// Decoding (m = 1) streams each weight row once, NR rows at a time, without
// repacking; threads take disjoint ranges of weight rows. Prefill tiles MR
// tokens x NR weight rows in registers and blocks both so a block of each
// stays in L2. The ISA (AVX-512, AVX2 + FMA, or portable C++) is chosen once
// per process from the CPU (MatMulIsa()).
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
// Weights in another dtype convert exactly to fp32 inside the kernel
// (bf16, fp16: exact; q8_0: q * scale, one float multiply), so the product
// has the same bits as MatMul over those fp32 values (the tests check it).

// MatMul on the calling thread only (for callers already inside a parallel
// loop, e.g. attention per sequence and head): the same recipe, so the
// same bits.
void MatMulOnThisThread(int m, int n, int k, const float* a, int64_t lda,
                        const float* w, int64_t ldw, float* c, int64_t ldc,
                        bool accumulate = false);

// Whether the CPU converts fp16 in hardware (F16C), which the AVX2 and
// AVX-512 kernels use.
bool CpuHasF16c();

// "avx512", "avx2" or "portable": the kernels this process uses.
const char* MatMulIsa();

// The kernels of one ISA over rows [n_begin, n_end) of W, all m rows of A.
// Exposed so tests can run each ISA the CPU supports against the others'
// contract; MatMul calls the process's choice.
struct MatMulKernels {
  const char* name;
  void (*run)(int m, int n_begin, int n_end, int k, const float* a, int64_t lda,
              const WeightMatrix& w, float* c, int64_t ldc, bool accumulate);
};
MatMulKernels PortableMatMulKernels();
// Null `run` when the build or the CPU lacks the ISA.
MatMulKernels Avx2MatMulKernels();
MatMulKernels Avx512MatMulKernels();

}  // namespace headroom::runtime::cpu

#endif  // HEADROOM_RUNTIME_CPU_MATMUL_H_
