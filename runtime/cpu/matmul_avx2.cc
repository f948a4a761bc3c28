// MatMul's tiles for AVX2 + FMA + F16C (compiled with -mavx2 -mfma -mf16c;
// called only when the CPU has them: matmul.cc checks).
#include <immintrin.h>

#include "runtime/cpu/matmul.h"
#include "runtime/cpu/matmul_q8_tiles.h"
#include "runtime/cpu/matmul_tiles.h"
#include "runtime/cpu/matmul_x86.h"

namespace headroom::runtime::cpu {
namespace {

struct Avx2 {
  using T = __m256;
  static constexpr int kLanes = 8;
  static T Zero() { return _mm256_setzero_ps(); }
  static T Load(const float* p) { return _mm256_loadu_ps(p); }
  static T LoadFirst(const float* p, int count) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lane);
    return _mm256_maskload_ps(p, mask);
  }
  static T Fma(T a, T b, T acc) { return _mm256_fmadd_ps(a, b, acc); }
  static float Sum(T v) { return SumOf8Lanes(v); }
  // bfloat16: the top half of a binary32.
  static T LoadBf16(const uint16_t* h) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16));
  }
  static T LoadHalf(const uint16_t* h) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
  }
};

}  // namespace

// fp32: 4 x 3 tiles (12 accumulators, 3 weight and 1 input register of 16).
// q8_0: 2 x 2 tiles (each step needs the weights' magnitude and sign).
void RunAvx2(const MatMulProblem& p, int n_begin, int n_end) {
  if (p.w.dtype == WeightDtype::kQ8_0) {
    return tiles::RunQ8<YmmQ8</*kVnni=*/false>, 2, 2>(p, n_begin, n_end);
  }
  tiles::RunFloat<Avx2, 4, 3>(p, n_begin, n_end);
}

}  // namespace headroom::runtime::cpu
