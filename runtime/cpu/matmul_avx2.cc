// MatMul's tiles for AVX2 + FMA + F16C (compiled with -mavx2 -mfma -mf16c;
// called only when the CPU has them: matmul.cc checks).
#include <immintrin.h>

#include "runtime/cpu/matmul.h"
#include "runtime/cpu/matmul_q8_tiles.h"
#include "runtime/cpu/matmul_tiles.h"
#include "runtime/cpu/matmul_x86.h"
#include "runtime/cpu/simd_x86.h"

namespace headroom::runtime::cpu {

// fp32: 4 x 3 tiles (12 accumulators, 3 weight and 1 input register of 16).
// q8_0: 2 x 2 tiles (each step needs the weights' magnitude and sign).
void RunAvx2(const MatMulProblem& p, int n_begin, int n_end) {
  if (p.w.dtype == WeightDtype::kQ8_0) {
    return tiles::RunQ8<YmmQ8</*kVnni=*/false>, 2, 2>(p, n_begin, n_end);
  }
  tiles::RunFloat<Avx2, 4, 3>(p, n_begin, n_end);
}

}  // namespace headroom::runtime::cpu
