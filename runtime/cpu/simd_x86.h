// Vector traits of the CPU kernels' ISAs: what a kernel template needs of a
// register of fp32 lanes. Avx512 needs -mavx512f -mfma -mf16c, Avx2 -mavx2
// -mfma -mf16c; include only from a file built with them (each struct is
// defined when its ISA is enabled), and call only on CPUs that have it.
// Internal linkage, so no copy built for one ISA is shared with another.
#ifndef HEADROOM_RUNTIME_CPU_SIMD_X86_H_
#define HEADROOM_RUNTIME_CPU_SIMD_X86_H_

#include <cstdint>

#include "runtime/cpu/matmul_x86.h"

namespace headroom::runtime::cpu {
namespace {

// LoadFirst(p, count) / StoreFirst(p, v, count): lanes [0, count) of p,
// count < kLanes (the other lanes read as zero and are not written).
#if defined(__AVX512F__)
struct Avx512 {
  using T = __m512;
  static constexpr int kLanes = 16;
  static T Zero() { return _mm512_setzero_ps(); }
  static T Set1(float x) { return _mm512_set1_ps(x); }
  static T Load(const float* p) { return _mm512_loadu_ps(p); }
  static __mmask16 First(int count) {
    return static_cast<__mmask16>((1u << count) - 1);
  }
  static T LoadFirst(const float* p, int count) {
    return _mm512_maskz_loadu_ps(First(count), p);
  }
  static void Store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static void StoreFirst(float* p, T v, int count) {
    _mm512_mask_storeu_ps(p, First(count), v);
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
#endif

#if defined(__AVX2__)
struct Avx2 {
  using T = __m256;
  static constexpr int kLanes = 8;
  static T Zero() { return _mm256_setzero_ps(); }
  static T Set1(float x) { return _mm256_set1_ps(x); }
  static T Load(const float* p) { return _mm256_loadu_ps(p); }
  static __m256i First(int count) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lane);
  }
  static T LoadFirst(const float* p, int count) {
    return _mm256_maskload_ps(p, First(count));
  }
  static void Store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static void StoreFirst(float* p, T v, int count) {
    _mm256_maskstore_ps(p, First(count), v);
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
#endif

}  // namespace
}  // namespace headroom::runtime::cpu

#endif  // HEADROOM_RUNTIME_CPU_SIMD_X86_H_
