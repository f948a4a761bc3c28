// MatMul's tiles for AVX-512F (compiled with -mavx512f -mfma -mf16c; called
// only when the CPU has them: matmul.cc checks).

#include "runtime/cpu/matmul.h"
#include "runtime/cpu/matmul_tiles.h"
#include "runtime/cpu/matmul_x86.h"

namespace headroom::runtime::cpu {
namespace {

struct Avx512 {
  using T = __m512;
  static constexpr int kLanes = 16;
  static T Zero() { return _mm512_setzero_ps(); }
  static T Load(const float* p) { return _mm512_loadu_ps(p); }
  static T LoadFirst(const float* p, int count) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << count) - 1), p);
  }
  static T Fma(T a, T b, T acc) { return _mm512_fmadd_ps(a, b, acc); }
  static float Sum(T v) { return SumOf16Lanes(v); }
  // bfloat16: the top half of a binary32.
  static T LoadBf16(const uint16_t* h) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
  }
  static T LoadHalf(const uint16_t* h) {
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h)));
  }
};

}  // namespace

// q8_0 multiplies integers: AVX2's kernels (every AVX-512 CPU has AVX2).
void RunAvx2(const MatMulProblem& p, int n_begin, int n_end);

// fp32: 4 x 4 tiles (16 accumulators of the 32 registers).
void RunAvx512(const MatMulProblem& p, int n_begin, int n_end) {
  if (p.w.dtype == WeightDtype::kQ8_0) return RunAvx2(p, n_begin, n_end);
  tiles::RunFloat<Avx512, 4, 4>(p, n_begin, n_end);
}

}  // namespace headroom::runtime::cpu
