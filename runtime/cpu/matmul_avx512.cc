// MatMul's tiles for AVX-512F (compiled with -mavx512f -mfma -mf16c; called
// only when the CPU has them: matmul.cc checks).
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics warn that their own _mm*_undefined_* results
// are uninitialized (GCC bug 105593); nothing of ours is.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "runtime/cpu/matmul.h"
#include "runtime/cpu/matmul_tiles.h"

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
  // Halves added pairwise down to one lane: a fixed order.
  static float Sum(T v) {
    const __m512 s8 = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));
    const __m512 s4x = _mm512_add_ps(s8, _mm512_shuffle_f32x4(s8, s8, 0xB1));
    const __m128 s4 = _mm512_castps512_ps128(s4x);
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    const __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
    return _mm_cvtss_f32(s1);
  }
  // bfloat16: the top half of a binary32.
  static T LoadBf16(const uint16_t* h) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
  }
  static T LoadHalf(const uint16_t* h) {
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h)));
  }
  static T LoadQ8(const int8_t* q, uint16_t scale) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)),
                         _mm512_set1_ps(_cvtsh_ss(scale)));
  }
};

}  // namespace

// 4 x 4 tiles (16 accumulators of the 32 registers), 1 x 8 when decoding.
void RunAvx512(int m, int n_begin, int n_end, int k, const float* a,
               int64_t lda, const WeightMatrix& w, float* c, int64_t ldc,
               bool accumulate) {
  tiles::RunAnyDtype<Avx512, 4, 4, 8>(m, n_begin, n_end, k, a, lda, w.dtype,
                                      w.data, w.row_bytes, c, ldc, accumulate);
}

}  // namespace headroom::runtime::cpu
