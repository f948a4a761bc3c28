// MatMul's tiles for AVX2 + FMA + F16C (compiled with -mavx2 -mfma -mf16c;
// called only when the CPU has them: matmul.cc checks).
#include <immintrin.h>

#include "runtime/cpu/matmul.h"
#include "runtime/cpu/matmul_tiles.h"

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
  static float Sum(T v) {
    const __m128 s4 =
        _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    const __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
    return _mm_cvtss_f32(s1);
  }
  // bfloat16: the top half of a binary32.
  static T LoadBf16(const uint16_t* h) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16));
  }
  static T LoadHalf(const uint16_t* h) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
  }
  static T LoadQ8(const int8_t* q, uint16_t scale) {
    const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)),
                         _mm256_set1_ps(_cvtsh_ss(scale)));
  }
};

}  // namespace

// 4 x 3 tiles (12 accumulators, 3 weight and 1 input register of 16), 1 x 6
// when decoding.
void RunAvx2(int m, int n_begin, int n_end, int k, const float* a, int64_t lda,
             const WeightMatrix& w, float* c, int64_t ldc, bool accumulate) {
  tiles::RunAnyDtype<Avx2, 4, 3, 6>(m, n_begin, n_end, k, a, lda, w.dtype,
                                    w.data, w.row_bytes, c, ldc, accumulate);
}

}  // namespace headroom::runtime::cpu
