#include "runtime/cpu/matmul.h"

#include <algorithm>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace headroom::runtime::cpu {

// Defined in matmul_<isa>.cc, each compiled for its ISA.
void RunPortable(const MatMulProblem& p, int n_begin, int n_end);
#if defined(__x86_64__)
void RunAvx2(const MatMulProblem& p, int n_begin, int n_end);
void RunAvx512(const MatMulProblem& p, int n_begin, int n_end);
void RunAvx512VnniBf16(const MatMulProblem& p, int n_begin, int n_end);
ActivationForm Avx512VnniBf16Form(WeightDtype dtype);
#endif

namespace {

#if defined(__x86_64__)
// CPUID leaf `leaf`, subleaf `sub`: {eax, ebx, ecx, edx}, zeros when the
// CPU lacks the leaf. (Clang 14's __builtin_cpu_supports knows neither
// "f16c" nor "avx512bf16", so ask CPUID directly.)
struct CpuidRegs {
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
};
CpuidRegs Cpuid(unsigned int leaf, unsigned int sub) {
  CpuidRegs r;
  if (static_cast<unsigned int>(__get_cpuid_max(leaf & 0x80000000u, nullptr)) <
      leaf) {
    return r;
  }
  __cpuid_count(leaf, sub, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}
#endif

// fp32 A for every dtype but q8_0, whose weights multiply q8 blocks.
ActivationForm FloatOrQ8Form(WeightDtype dtype) {
  return dtype == WeightDtype::kQ8_0 ? ActivationForm::kQ8
                                     : ActivationForm::kF32;
}

}  // namespace

bool CpuHasF16c() {
#if defined(__x86_64__)
  return (Cpuid(1, 0).ecx & bit_F16C) != 0;  // leaf 1, ECX bit 29
#else
  return false;
#endif
}

MatMulKernels PortableMatMulKernels() {
  return {"portable", &FloatOrQ8Form, &RunPortable};
}

MatMulKernels Avx2MatMulKernels() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      CpuHasF16c()) {
    return {"avx2", &FloatOrQ8Form, &RunAvx2};
  }
#endif
  return {"avx2", &FloatOrQ8Form, nullptr};
}

MatMulKernels Avx512MatMulKernels() {
#if defined(__x86_64__)
  // q8_0 runs AVX2's kernels.
  if (__builtin_cpu_supports("avx512f") && Avx2MatMulKernels().run) {
    return {"avx512", &FloatOrQ8Form, &RunAvx512};
  }
#endif
  return {"avx512", &FloatOrQ8Form, nullptr};
}

MatMulKernels Avx512VnniBf16MatMulKernels() {
#if defined(__x86_64__)
  // Leaf 7 subleaf 0: ECX bit 11 AVX512_VNNI; subleaf 1: EAX bit 5
  // AVX512_BF16. (__builtin_cpu_supports also checks that the OS saves
  // the AVX-512 registers.)
  const bool vnni = (Cpuid(7, 0).ecx & (1u << 11)) != 0;
  const bool bf16 = (Cpuid(7, 1).eax & (1u << 5)) != 0;
  if (vnni && bf16 && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && Avx512MatMulKernels().run) {
    return {"avx512-vnni-bf16", &Avx512VnniBf16Form, &RunAvx512VnniBf16};
  }
  return {"avx512-vnni-bf16", &Avx512VnniBf16Form, nullptr};
#else
  return {"avx512-vnni-bf16", &FloatOrQ8Form, nullptr};
#endif
}

namespace {

// The best kernels this CPU runs, chosen once: every MatMul of the process
// then follows one recipe per dtype (matmul.h).
const MatMulKernels& ProcessKernels() {
  static const MatMulKernels kernels = [] {
    for (MatMulKernels k : {Avx512VnniBf16MatMulKernels(),
                            Avx512MatMulKernels(), Avx2MatMulKernels()}) {
      if (k.run != nullptr) return k;
    }
    return PortableMatMulKernels();
  }();
  return kernels;
}

// The problem `kernels` run for C = A W^T (+ C): A itself (fp32), or A
// packed into `scratch` in the form the kernels take for W (rows in
// parallel on `pool` when there is one: each row packs on its own, so the
// split changes no byte).
MatMulProblem ProblemOf(const MatMulKernels& kernels, int m, int k,
                        const float* a, int64_t lda, const WeightMatrix& w,
                        float* c, int64_t ldc, bool accumulate,
                        ThreadPool* pool, std::vector<uint8_t>& scratch) {
  MatMulProblem p;
  p.m = m;
  p.k = k;
  p.w = w;
  p.c = c;
  p.ldc = ldc;
  p.accumulate = accumulate;
  const ActivationForm form = kernels.form(w.dtype);
  if (form == ActivationForm::kF32) {
    p.a = a;
    p.a_stride = lda * static_cast<int64_t>(sizeof(float));
    return p;
  }
  const int64_t row_bytes = PackedRowBytes(form, k);
  scratch.resize(static_cast<size_t>(int64_t{m} * row_bytes));
  uint8_t* out = scratch.data();
  auto pack = [&](int64_t begin, int64_t end) {
    PackActivations(form, static_cast<int>(end - begin), k, a + begin * lda,
                    lda, out + begin * row_bytes);
  };
  constexpr int kRowsPerTask = 8;
  if (pool == nullptr || m < 2 * kRowsPerTask) {
    pack(0, m);
  } else {
    pool->ParallelFor(
        (m + kRowsPerTask - 1) / kRowsPerTask, [&](int64_t begin, int64_t end) {
          pack(begin * kRowsPerTask, std::min<int64_t>(m, end * kRowsPerTask));
        });
  }
  p.a = out;
  p.a_stride = row_bytes;
  return p;
}

WeightMatrix Fp32(const float* w, int64_t ldw) {
  return {WeightDtype::kF32, w, ldw * static_cast<int64_t>(sizeof(float))};
}

}  // namespace

const char* MatMulIsa() { return ProcessKernels().name; }

void RunKernels(const MatMulKernels& kernels, int m, int n, int k,
                const float* a, int64_t lda, const WeightMatrix& w, float* c,
                int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  std::vector<uint8_t> scratch;
  kernels.run(
      ProblemOf(kernels, m, k, a, lda, w, c, ldc, accumulate, nullptr, scratch),
      0, n);
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
  // Packed A lives in a buffer per calling thread, reused across calls.
  thread_local std::vector<uint8_t> scratch;
  const MatMulProblem p =
      ProblemOf(kernels, m, k, a, lda, w, c, ldc, accumulate, &pool, scratch);
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
    kernels.run(p, 0, n);
    return;
  }
  pool.ParallelFor(tasks, [&](int64_t begin, int64_t end) {
    kernels.run(p, static_cast<int>(begin * grain),
                static_cast<int>(std::min<int64_t>(n, end * grain)));
  });
}

}  // namespace headroom::runtime::cpu
