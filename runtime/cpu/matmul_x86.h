// What MatMul's AVX2 and AVX-512 kernels share: the fixed-order horizontal
// sums (matmul.h: part of each output's recipe) and the q8 dot of 32 int8
// pairs in 8 lanes (matmul_q8_tiles.h). Include only from the
// matmul_<isa>.cc files built with AVX2 + FMA + F16C or wider; internal
// linkage, so no copy built for one ISA is shared with another.
#ifndef HEADROOM_RUNTIME_CPU_MATMUL_X86_H_
#define HEADROOM_RUNTIME_CPU_MATMUL_X86_H_

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

#include <cstdint>

namespace headroom::runtime::cpu {

// (l0 + l4) + (l2 + l6) + ((l1 + l5) + (l3 + l7)).
static inline float SumOf8Lanes(__m256 v) {
  const __m128 s4 =
      _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
  return _mm_cvtss_f32(s1);
}

#if defined(__AVX512F__)
// Halves added pairwise down to one lane.
static inline float SumOf16Lanes(__m512 v) {
  const __m512 s8 = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));
  const __m512 s4x = _mm512_add_ps(s8, _mm512_shuffle_f32x4(s8, s8, 0xB1));
  const __m128 s4 = _mm512_castps512_ps128(s4x);
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const __m128 s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
  return _mm_cvtss_f32(s1);
}
#endif

// The q8 dot (matmul_q8_tiles.h) in 8 lanes, lane l the exact sum over
// bytes 4l..4l+3. With kVnni, vpdpbusd multiplies unsigned by signed bytes:
// w + 128 (w xor 0x80) times a, started from -128 * (sum of a's 4 bytes),
// leaves w * a. Without, |w| times a with w's sign gives w * a; vpmaddubsw
// adds pairs to 16 bits (at most 2 * 128 * 127 = 32512: activations are
// within +-127, so no saturation) and vpmaddwd pairs of those to 32 bits.
namespace {  // internal linkage: a different type in each ISA's file

template <bool kVnni>
struct YmmQ8 {
  using Acc = __m256;
  using Scale = __m256;
  struct Weights {
    __m256i q, magnitude;  // kVnni: q + 128 in `q`, `magnitude` unused
  };
  struct Activations {
    __m256i q, correction;  // kVnni: -128 * sums of 4 in `correction`
  };
  static Acc Zero() { return _mm256_setzero_ps(); }
  static __m256i Load32(const int8_t* q) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  }
  static Weights PrepareWeights(const int8_t* q) {
    const __m256i v = Load32(q);
    if constexpr (kVnni) {
      return {_mm256_xor_si256(v, _mm256_set1_epi8(-128)), v};
    } else {
      return {v, _mm256_abs_epi8(v)};
    }
  }
  static Activations PrepareActivations(const int8_t* q) {
    const __m256i v = Load32(q);
    if constexpr (kVnni) {
      const __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(),
                                               _mm256_set1_epi8(-128), v);
      return {v, _mm256_sub_epi32(_mm256_setzero_si256(), sums)};
    } else {
      return {v, v};
    }
  }
  static Scale Broadcast(float x) { return _mm256_set1_ps(x); }
  static Scale WeightScale(uint16_t h) {
    return _mm256_cvtph_ps(_mm_set1_epi16(static_cast<int16_t>(h)));
  }
  static Scale Mul(Scale x, Scale y) { return _mm256_mul_ps(x, y); }
  static Acc Step(Acc acc, const Weights& w, const Activations& a,
                  Scale scale) {
    __m256i s;
    if constexpr (kVnni) {
      s = _mm256_dpbusd_epi32(a.correction, w.q, a.q);
    } else {
      s = _mm256_madd_epi16(
          _mm256_maddubs_epi16(w.magnitude, _mm256_sign_epi8(a.q, w.q)),
          _mm256_set1_epi16(1));
    }
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), scale, acc);
  }
  static float Sum(Acc v) { return SumOf8Lanes(v); }
};

}  // namespace

}  // namespace headroom::runtime::cpu

#endif  // HEADROOM_RUNTIME_CPU_MATMUL_X86_H_
