// The register tiles of MatMul (matmul.h), written once over a vector type
// `V` and instantiated per ISA in matmul_<isa>.cc, each compiled for its
// ISA. Include only from those files.
//
// V provides: using T (the register type); kLanes; Zero(); Load(p);
// LoadFirst(p, count) (count < kLanes lanes, the rest zero); Fma(a, b, acc)
// = a * b + acc, fused; Sum(acc), a fixed-order horizontal sum; and the
// weight conversions LoadBf16(h), LoadHalf(h) (kLanes 16-bit values) and
// LoadQ8(q, scale) (kLanes int8 times one fp16 scale), each exactly as the
// scalar definitions in runtime/weights/weight_dtype.h.
#ifndef HEADROOM_RUNTIME_CPU_MATMUL_TILES_H_
#define HEADROOM_RUNTIME_CPU_MATMUL_TILES_H_

#include <cstdint>

#include "runtime/weights/weight_dtype.h"

namespace headroom::runtime::cpu::tiles {

// C[MR x NR] tile: rows a[0..MR) of A against rows w[0..NR) of W.
template <class V, class L, int MR, int NR>
inline void Tile(int k, const float* a, int64_t lda, const uint8_t* w,
                 int64_t ldw, float* c, int64_t ldc, bool accumulate) {
  // The loops over MR and NR are unrolled so the accumulators live in
  // registers (without the pragmas GCC keeps them on the stack).
  typename V::T acc[MR][NR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < NR; ++j) acc[i][j] = V::Zero();
  }
  int p = 0;
  for (; p + V::kLanes <= k; p += V::kLanes) {
    typename V::T wv[NR];
#pragma GCC unroll 16
    for (int j = 0; j < NR; ++j) wv[j] = L::Load(w + j * ldw, p);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const typename V::T av = V::Load(a + i * lda + p);
#pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) acc[i][j] = V::Fma(av, wv[j], acc[i][j]);
    }
  }
  if (p < k) {  // zero lanes add exact zeros: the same recipe as above
    const int rest = k - p;
    typename V::T wv[NR];
#pragma GCC unroll 16
    for (int j = 0; j < NR; ++j) wv[j] = L::LoadFirst(w + j * ldw, p, rest);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const typename V::T av = V::LoadFirst(a + i * lda + p, rest);
#pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) acc[i][j] = V::Fma(av, wv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < NR; ++j) {
      const float s = V::Sum(acc[i][j]);
      float& out = c[i * ldc + j];
      out = accumulate ? out + s : s;
    }
  }
}

// No std::min / std::max and nothing with external linkage here (beyond the
// declarations of weight_dtype.h, which are defined elsewhere): this header
// is compiled once per ISA, and an out-of-line copy of a shared inline
// function built for AVX-512 could be the one the linker keeps for every
// caller. (The templates below are instantiated with each ISA's vector type,
// which lives in an anonymous namespace: internal linkage too.)
static constexpr int64_t Smaller(int64_t a, int64_t b) { return a < b ? a : b; }
static constexpr int64_t Larger(int64_t a, int64_t b) { return a > b ? a : b; }

// A tile of mr <= MR rows and nr <= NR columns, by instantiation.
template <class V, class L, int MR, int NR>
inline void EdgeTile(int mr, int nr, int k, const float* a, int64_t lda,
                     const uint8_t* w, int64_t ldw, float* c, int64_t ldc,
                     bool accumulate) {
  if constexpr (MR > 1) {
    if (mr < MR) {
      return EdgeTile<V, L, MR - 1, NR>(mr, nr, k, a, lda, w, ldw, c, ldc,
                                        accumulate);
    }
  }
  if constexpr (NR > 1) {
    if (nr < NR) {
      return EdgeTile<V, L, MR, NR - 1>(mr, nr, k, a, lda, w, ldw, c, ldc,
                                        accumulate);
    }
  }
  Tile<V, L, MR, NR>(k, a, lda, w, ldw, c, ldc, accumulate);
}

// Lanes p..p+count of a weight row converted one by one with the scalar
// definitions, zero beyond: the tail of a row (and the portable kernels).
template <int kLanes, class Convert>
inline void ExpandLanes(int count, Convert&& convert, float* out) {
  for (int i = 0; i < kLanes; ++i) out[i] = i < count ? convert(i) : 0.0f;
}

// Rows of A (or of W) in a block: two blocks of k floats a row fill about
// 1 MiB, a share of L2 on current x86 cores; at least `at_least`.
static constexpr int64_t MatMulBlockRows(int k, int64_t at_least) {
  return Larger(at_least, ((int64_t{1} << 20) / 4) / (2 * Larger(1, k)));
}

// Rows [n_begin, n_end) of W (rows `ldw` bytes apart) against all m rows
// of A. Blocks of rows of A
// and of W are sized so that one block of each (k floats a row) fits in
// about 1 MiB of L2 together; inside, MR x NR register tiles. m = 1 uses
// 1 x kDecodeNR tiles: each weight row is read once, in order.
template <class V, class L, int MR, int NR, int kDecodeNR>
void Run(int m, int n_begin, int n_end, int k, const float* a, int64_t lda,
         const uint8_t* w, int64_t ldw, float* c, int64_t ldc,
         bool accumulate) {
  if (m == 1) {
    for (int j = n_begin; j < n_end; j += kDecodeNR) {
      const int nr = static_cast<int>(Smaller(kDecodeNR, n_end - j));
      EdgeTile<V, L, 1, kDecodeNR>(1, nr, k, a, lda, w + j * ldw, ldw, c + j,
                                   ldc, accumulate);
    }
    return;
  }
  const int block = static_cast<int>(MatMulBlockRows(k, Larger(MR, NR)));
  const int m_block = static_cast<int>(Larger(MR, block / MR * MR));
  const int n_block = static_cast<int>(Larger(NR, block / NR * NR));
  for (int n0 = n_begin; n0 < n_end; n0 += n_block) {
    const int n1 = static_cast<int>(Smaller(n_end, int64_t{n0} + n_block));
    for (int m0 = 0; m0 < m; m0 += m_block) {
      const int m1 = static_cast<int>(Smaller(m, int64_t{m0} + m_block));
      for (int j = n0; j < n1; j += NR) {
        for (int i = m0; i < m1; i += MR) {
          EdgeTile<V, L, MR, NR>(static_cast<int>(Smaller(MR, m1 - i)),
                                 static_cast<int>(Smaller(NR, n1 - j)), k,
                                 a + i * lda, lda, w + j * ldw, ldw,
                                 c + i * ldc + j, ldc, accumulate);
        }
      }
    }
  }
}

// Weight loaders, one per dtype, over the ISA's V: weights p.. of a row
// (bytes) as fp32 lanes. Whole vectors use V's conversions (LoadBf16,
// LoadHalf, LoadQ8: exact, as the scalar definitions); the last, partial
// vector of a row expands lane by lane with the scalar definitions.
template <class V>
struct F32Loader {
  static typename V::T Load(const uint8_t* row, int p) {
    return V::Load(reinterpret_cast<const float*>(row) + p);
  }
  static typename V::T LoadFirst(const uint8_t* row, int p, int count) {
    return V::LoadFirst(reinterpret_cast<const float*>(row) + p, count);
  }
};

template <class V, bool kBf16>
struct Half16Loader {
  static typename V::T Load(const uint8_t* row, int p) {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + p;
    return kBf16 ? V::LoadBf16(h) : V::LoadHalf(h);
  }
  static typename V::T LoadFirst(const uint8_t* row, int p, int count) {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + p;
    alignas(64) float lanes[V::kLanes];
    ExpandLanes<V::kLanes>(
        count,
        [&](int i) {
          return kBf16 ? BFloat16ToFloat(h[i]) : HalfToFloat(h[i]);
        },
        lanes);
    return V::Load(lanes);
  }
};

// kLanes divides 32, so a vector never straddles two q8_0 blocks.
template <class V>
struct Q8Loader {
  static_assert(kQ8_0BlockSize % V::kLanes == 0);
  static typename V::T Load(const uint8_t* row, int p) {
    const auto* block =
        reinterpret_cast<const Q8_0Block*>(row) + p / kQ8_0BlockSize;
    return V::LoadQ8(block->q + p % kQ8_0BlockSize, block->scale);
  }
  static typename V::T LoadFirst(const uint8_t* row, int p, int count) {
    const auto* block =
        reinterpret_cast<const Q8_0Block*>(row) + p / kQ8_0BlockSize;
    const int offset = p % kQ8_0BlockSize;
    alignas(64) float lanes[V::kLanes];
    ExpandLanes<V::kLanes>(
        count, [&](int i) { return Q8_0Weight(*block, offset + i); }, lanes);
    return V::Load(lanes);
  }
};

// Run with the loader of `dtype`.
template <class V, int MR, int NR, int kDecodeNR>
void RunAnyDtype(int m, int n_begin, int n_end, int k, const float* a,
                 int64_t lda, WeightDtype dtype, const void* w, int64_t ldw,
                 float* c, int64_t ldc, bool accumulate) {
  const auto* rows = static_cast<const uint8_t*>(w);
  switch (dtype) {
    case WeightDtype::kF32:
      return Run<V, F32Loader<V>, MR, NR, kDecodeNR>(
          m, n_begin, n_end, k, a, lda, rows, ldw, c, ldc, accumulate);
    case WeightDtype::kBF16:
      return Run<V, Half16Loader<V, true>, MR, NR, kDecodeNR>(
          m, n_begin, n_end, k, a, lda, rows, ldw, c, ldc, accumulate);
    case WeightDtype::kF16:
      return Run<V, Half16Loader<V, false>, MR, NR, kDecodeNR>(
          m, n_begin, n_end, k, a, lda, rows, ldw, c, ldc, accumulate);
    case WeightDtype::kQ8_0:
      return Run<V, Q8Loader<V>, MR, NR, kDecodeNR>(
          m, n_begin, n_end, k, a, lda, rows, ldw, c, ldc, accumulate);
  }
}

}  // namespace headroom::runtime::cpu::tiles

#endif  // HEADROOM_RUNTIME_CPU_MATMUL_TILES_H_
