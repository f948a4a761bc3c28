// MatMul's tiles for AVX-512F (compiled with -mavx512f -mfma -mf16c; called
// only when the CPU has them: matmul.cc checks).

#include "runtime/cpu/matmul.h"
#include "runtime/cpu/matmul_tiles.h"
#include "runtime/cpu/matmul_x86.h"
#include "runtime/cpu/simd_x86.h"

namespace headroom::runtime::cpu {

// q8_0 multiplies integers: AVX2's kernels (every AVX-512 CPU has AVX2).
void RunAvx2(const MatMulProblem& p, int n_begin, int n_end);

// fp32: 4 x 4 tiles (16 accumulators of the 32 registers).
void RunAvx512(const MatMulProblem& p, int n_begin, int n_end) {
  if (p.w.dtype == WeightDtype::kQ8_0) return RunAvx2(p, n_begin, n_end);
  tiles::RunFloat<Avx512, 4, 4>(p, n_begin, n_end);
}

}  // namespace headroom::runtime::cpu
