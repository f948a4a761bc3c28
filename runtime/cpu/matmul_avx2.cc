// MatMul's tiles for AVX2 + FMA (compiled with -mavx2 -mfma; called only
// when the CPU has both: matmul.cc checks).
#include <immintrin.h>

#include "runtime/cpu/matmul.h"
#include "runtime/cpu/matmul_tiles.h"
#include "runtime/weight_dtype.h"

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
};

// Weight loaders, one per dtype: 8 weights from p on as fp32 lanes.
struct F32 {
  static __m256 Load(const uint8_t* row, int p) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + p);
  }
  static __m256 LoadFirst(const uint8_t* row, int p, int count) {
    return Avx2::LoadFirst(reinterpret_cast<const float*>(row) + p, count);
  }
};

struct BF16 {
  static __m256 Load(const uint8_t* row, int p) {
    const __m128i b =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * int64_t{p}));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16));
  }
  static __m256 LoadFirst(const uint8_t* row, int p, int count) {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + p;
    alignas(32) float lanes[8];
    tiles::ExpandLanes<8>(
        count, [&](int i) { return BFloat16ToFloat(h[i]); }, lanes);
    return _mm256_load_ps(lanes);
  }
};

struct F16 {
  static __m256 Load(const uint8_t* row, int p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(
        reinterpret_cast<const __m128i*>(row + 2 * int64_t{p})));
  }
  static __m256 LoadFirst(const uint8_t* row, int p, int count) {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + p;
    alignas(32) float lanes[8];
    tiles::ExpandLanes<8>(
        count, [&](int i) { return HalfToFloat(h[i]); }, lanes);
    return _mm256_load_ps(lanes);
  }
};

// 8 lanes never straddle a 32-weight block (p is a multiple of 8).
struct Q8 {
  static __m256 Load(const uint8_t* row, int p) {
    const auto* block =
        reinterpret_cast<const Q8_0Block*>(row) + p / kQ8_0BlockSize;
    const __m128i q = _mm_loadl_epi64(
        reinterpret_cast<const __m128i*>(block->q + p % kQ8_0BlockSize));
    const float scale = _cvtsh_ss(block->scale);
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)),
                         _mm256_set1_ps(scale));
  }
  static __m256 LoadFirst(const uint8_t* row, int p, int count) {
    const auto* block =
        reinterpret_cast<const Q8_0Block*>(row) + p / kQ8_0BlockSize;
    const int offset = p % kQ8_0BlockSize;
    alignas(32) float lanes[8];
    tiles::ExpandLanes<8>(
        count, [&](int i) { return Q8_0Weight(*block, offset + i); }, lanes);
    return _mm256_load_ps(lanes);
  }
};

template <class L>
void RunAs(int m, int n_begin, int n_end, int k, const float* a, int64_t lda,
           const WeightMatrix& w, float* c, int64_t ldc, bool accumulate) {
  tiles::Run<Avx2, L, 4, 3, 6>(m, n_begin, n_end, k, a, lda,
                               static_cast<const uint8_t*>(w.data), w.row_bytes,
                               c, ldc, accumulate);
}

}  // namespace

// 4 x 3 tiles (12 accumulators, 3 weight and 1 input register of 16), 1 x 6
// when decoding.
void RunAvx2(int m, int n_begin, int n_end, int k, const float* a, int64_t lda,
             const WeightMatrix& w, float* c, int64_t ldc, bool accumulate) {
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
