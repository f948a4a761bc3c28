#include "runtime/cpu/matmul.h"

#include <algorithm>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace headroom::runtime::cpu {

// Defined in matmul_<isa>.cc, each compiled for its ISA.
void RunPortable(int m, int n_begin, int n_end, int k, const float* a,
                 int64_t lda, const WeightMatrix& w, float* c, int64_t ldc,
                 bool accumulate);
#if defined(__x86_64__)
void RunAvx2(int m, int n_begin, int n_end, int k, const float* a, int64_t lda,
             const WeightMatrix& w, float* c, int64_t ldc, bool accumulate);
void RunAvx512(int m, int n_begin, int n_end, int k, const float* a,
               int64_t lda, const WeightMatrix& w, float* c, int64_t ldc,
               bool accumulate);
#endif

bool CpuHasF16c() {
#if defined(__x86_64__)
  // CPUID leaf 1, ECX bit 29. Clang 14's __builtin_cpu_supports does not
  // know "f16c", so ask CPUID directly.
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (ecx & bit_F16C) != 0;
#else
  return false;
#endif
}

MatMulKernels PortableMatMulKernels() { return {"portable", &RunPortable}; }

MatMulKernels Avx2MatMulKernels() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      CpuHasF16c()) {
    return {"avx2", &RunAvx2};
  }
#endif
  return {"avx2", nullptr};
}

MatMulKernels Avx512MatMulKernels() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f") && CpuHasF16c()) {
    return {"avx512", &RunAvx512};
  }
#endif
  return {"avx512", nullptr};
}

namespace {

// The best kernels this CPU runs, chosen once: every MatMul of the process
// then follows one recipe (matmul.h).
const MatMulKernels& ProcessKernels() {
  static const MatMulKernels kernels = [] {
    if (MatMulKernels k = Avx512MatMulKernels(); k.run != nullptr) return k;
    if (MatMulKernels k = Avx2MatMulKernels(); k.run != nullptr) return k;
    return PortableMatMulKernels();
  }();
  return kernels;
}

}  // namespace

const char* MatMulIsa() { return ProcessKernels().name; }

namespace {

WeightMatrix Fp32(const float* w, int64_t ldw) {
  return {WeightDtype::kF32, w, ldw * static_cast<int64_t>(sizeof(float))};
}

}  // namespace

void MatMulOnThisThread(int m, int n, int k, const float* a, int64_t lda,
                        const float* w, int64_t ldw, float* c, int64_t ldc,
                        bool accumulate) {
  if (m <= 0 || n <= 0) return;
  ProcessKernels().run(m, 0, n, k, a, lda, Fp32(w, ldw), c, ldc, accumulate);
}

void MatMul(ThreadPool& pool, int m, int n, int k, const float* a, int64_t lda,
            const float* w, int64_t ldw, float* c, int64_t ldc,
            bool accumulate) {
  MatMul(pool, m, n, k, a, lda, Fp32(w, ldw), c, ldc, accumulate);
}

void MatMul(ThreadPool& pool, int m, int n, int k, const float* a, int64_t lda,
            const WeightMatrix& w, float* c, int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  const MatMulKernels& kernels = ProcessKernels();
  // Threads take disjoint ranges of W's rows; which thread computes an
  // output never changes its bits. Decoding: ranges of 64 rows (enough to
  // stream, small enough to balance). Prefill: ranges of an L2 block of
  // rows, reused against every row of A, but enough ranges for every
  // thread.
  const int64_t threads = pool.num_threads();
  int64_t grain = 64;
  if (m > 1) {
    const int64_t l2_rows =
        std::max<int64_t>(16, (int64_t{1} << 18) / (2 * std::max(1, k)));
    grain =
        std::max<int64_t>(16, std::min(l2_rows, (n + threads - 1) / threads));
  }
  const int64_t tasks = (n + grain - 1) / grain;
  if (tasks == 1 || threads == 1) {
    kernels.run(m, 0, n, k, a, lda, w, c, ldc, accumulate);
    return;
  }
  pool.ParallelFor(tasks, [&](int64_t begin, int64_t end) {
    const int n_begin = static_cast<int>(begin * grain);
    const int n_end = static_cast<int>(std::min<int64_t>(n, end * grain));
    kernels.run(m, n_begin, n_end, k, a, lda, w, c, ldc, accumulate);
  });
}

}  // namespace headroom::runtime::cpu
