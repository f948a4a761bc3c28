// MatMul's tiles for AVX-512F (compiled with -mavx512f; called only when the
// CPU has it: matmul.cc checks).
// GCC 12's AVX-512 intrinsics warn that their own _mm*_undefined_* results
// are uninitialized (GCC bug 105593); nothing of ours is.
#if defined(__GNUC__) && !defined(__clang__)
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
#include "runtime/weight_dtype.h"

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
};

// Weight loaders, one per dtype: 16 weights from p on as fp32 lanes.
struct F32 {
  static __m512 Load(const uint8_t* row, int p) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + p);
  }
  static __m512 LoadFirst(const uint8_t* row, int p, int count) {
    return Avx512::LoadFirst(reinterpret_cast<const float*>(row) + p, count);
  }
};

struct BF16 {
  static __m512 Load(const uint8_t* row, int p) {
    const __m256i b = _mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(row + 2 * int64_t{p}));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
  }
  static __m512 LoadFirst(const uint8_t* row, int p, int count) {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + p;
    alignas(64) float lanes[16];
    tiles::ExpandLanes<16>(
        count, [&](int i) { return BFloat16ToFloat(h[i]); }, lanes);
    return _mm512_load_ps(lanes);
  }
};

struct F16 {
  static __m512 Load(const uint8_t* row, int p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(
        reinterpret_cast<const __m256i*>(row + 2 * int64_t{p})));
  }
  static __m512 LoadFirst(const uint8_t* row, int p, int count) {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + p;
    alignas(64) float lanes[16];
    tiles::ExpandLanes<16>(
        count, [&](int i) { return HalfToFloat(h[i]); }, lanes);
    return _mm512_load_ps(lanes);
  }
};

// 16 lanes never straddle a 32-weight block (p is a multiple of 16).
struct Q8 {
  static __m512 Load(const uint8_t* row, int p) {
    const auto* block =
        reinterpret_cast<const Q8_0Block*>(row) + p / kQ8_0BlockSize;
    const __m128i q = _mm_loadu_si128(
        reinterpret_cast<const __m128i*>(block->q + p % kQ8_0BlockSize));
    const float scale = _cvtsh_ss(block->scale);
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)),
                         _mm512_set1_ps(scale));
  }
  static __m512 LoadFirst(const uint8_t* row, int p, int count) {
    const auto* block =
        reinterpret_cast<const Q8_0Block*>(row) + p / kQ8_0BlockSize;
    const int offset = p % kQ8_0BlockSize;
    alignas(64) float lanes[16];
    tiles::ExpandLanes<16>(
        count, [&](int i) { return Q8_0Weight(*block, offset + i); }, lanes);
    return _mm512_load_ps(lanes);
  }
};

template <class L>
void RunAs(int m, int n_begin, int n_end, int k, const float* a, int64_t lda,
           const WeightMatrix& w, float* c, int64_t ldc, bool accumulate) {
  tiles::Run<Avx512, L, 4, 4, 8>(m, n_begin, n_end, k, a, lda,
                                 static_cast<const uint8_t*>(w.data),
                                 w.row_bytes, c, ldc, accumulate);
}

}  // namespace

// 4 x 4 tiles (16 accumulators of the 32 registers), 1 x 8 when decoding.
void RunAvx512(int m, int n_begin, int n_end, int k, const float* a,
               int64_t lda, const WeightMatrix& w, float* c, int64_t ldc,
               bool accumulate) {
  switch (w.dtype) {
    case WeightDtype::kF32:
      return RunAs<F32>(m, n_begin, n_end, k, a, lda, w, c, ldc, accumulate);
    case WeightDtype::kBF16:
      return RunAs<BF16>(m, n_begin, n_end, k, a, lda, w, c, ldc, accumulate);
    case WeightDtype::kF16:
      return RunAs<F16>(m, n_begin, n_end, k, a, lda, w, c, ldc, accumulate);
    case WeightDtype::kQ8_0:
      return RunAs<Q8>(m, n_begin, n_end, k, a, lda, w, c, ldc, accumulate);
  }
}

}  // namespace headroom::runtime::cpu
