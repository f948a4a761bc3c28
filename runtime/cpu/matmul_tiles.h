// The loop nest of MatMul (matmul.h) and its fp32 register tiles, written
// once over a vector type `V` and instantiated per ISA in matmul_<isa>.cc,
// each compiled for its ISA. Include only from those files.
//
// Drive() walks the tiles of C for any "tile family": a class with
//   template <int MR, int NR> static void Run(const Problem&, int i, int j)
// computing C[i..i+MR, j..j+NR). The fp32 family is below; the q8 family is
// in matmul_q8_tiles.h, the bf16 one in matmul_avx512_vnni_bf16.cc. Every
// family computes one output the same way in every tile shape.
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

#include "runtime/cpu/matmul.h"
#include "runtime/weights/weight_dtype.h"

namespace headroom::runtime::cpu::tiles {

using Problem = MatMulProblem;

// Row i of A and row j of W, as bytes.
static inline const uint8_t* RowOfA(const Problem& p, int64_t i) {
  return static_cast<const uint8_t*>(p.a) + i * p.a_stride;
}
static inline const uint8_t* RowOfW(const Problem& p, int64_t j) {
  return static_cast<const uint8_t*>(p.w.data) + j * p.w.row_bytes;
}

// No std::min / std::max and nothing with external linkage here (beyond the
// declarations of weight_dtype.h, which are defined elsewhere): this header
// is compiled once per ISA, and an out-of-line copy of a shared inline
// function built for AVX-512 could be the one the linker keeps for every
// caller. (The templates below are instantiated with each ISA's types,
// which live in anonymous namespaces: internal linkage too.)
static constexpr int64_t Smaller(int64_t a, int64_t b) { return a < b ? a : b; }
static constexpr int64_t Larger(int64_t a, int64_t b) { return a > b ? a : b; }

// Stores a tile's sum: once into C, added to C when accumulating.
static inline void StoreSum(const Problem& p, float* out, float sum) {
  *out = p.accumulate ? *out + sum : sum;
}

// A tile of mr <= MR rows and nr <= NR columns, by instantiation.
template <class Family, int MR, int NR>
inline void EdgeTile(int mr, int nr, const Problem& p, int i, int j) {
  if constexpr (MR > 1) {
    if (mr < MR) return EdgeTile<Family, MR - 1, NR>(mr, nr, p, i, j);
  }
  if constexpr (NR > 1) {
    if (nr < NR) return EdgeTile<Family, MR, NR - 1>(mr, nr, p, i, j);
  }
  Family::template Run<MR, NR>(p, i, j);
}

// Rows of A (or of W) in a block: a block of each fills about 1 MiB, a
// share of L2 on current x86 cores; at least `at_least`.
static constexpr int64_t MatMulBlockRows(int64_t row_bytes_a_plus_w,
                                         int64_t at_least) {
  return Larger(at_least, (int64_t{1} << 20) / Larger(1, row_bytes_a_plus_w));
}

// Rows [n_begin, n_end) of W against all m rows of A. m = 1 (decoding)
// takes W's rows one after the other: one contiguous stream. Otherwise
// blocks of rows of A and of W, sized so that one block of each fits in
// about 1 MiB of L2 together, are cut into MR x NR register tiles.
template <class Family, int MR, int NR>
void Drive(const Problem& p, int n_begin, int n_end,
           int64_t row_bytes_a_plus_w) {
  if (p.m == 1) {
    for (int j = n_begin; j < n_end; ++j) Family::template Run<1, 1>(p, 0, j);
    return;
  }
  const int block =
      static_cast<int>(MatMulBlockRows(row_bytes_a_plus_w, Larger(MR, NR)));
  const int m_block = static_cast<int>(Larger(MR, block / MR * MR));
  const int n_block = static_cast<int>(Larger(NR, block / NR * NR));
  for (int n0 = n_begin; n0 < n_end; n0 += n_block) {
    const int n1 = static_cast<int>(Smaller(n_end, int64_t{n0} + n_block));
    for (int m0 = 0; m0 < p.m; m0 += m_block) {
      const int m1 = static_cast<int>(Smaller(p.m, int64_t{m0} + m_block));
      for (int j = n0; j < n1; j += NR) {
        for (int i = m0; i < m1; i += MR) {
          EdgeTile<Family, MR, NR>(static_cast<int>(Smaller(MR, m1 - i)),
                                   static_cast<int>(Smaller(NR, n1 - j)), p, i,
                                   j);
        }
      }
    }
  }
}

// The fp32 family: C tile = rows of A (fp32) against rows of W converted
// to fp32 by the loader L, one V accumulator per output, k ascending.
template <class V, class L>
struct FloatTiles {
  template <int MR, int NR>
  static void Run(const Problem& pr, int i0, int j0) {
    const int k = pr.k;
    const float* a = reinterpret_cast<const float*>(RowOfA(pr, i0));
    const int64_t lda = pr.a_stride / static_cast<int64_t>(sizeof(float));
    const uint8_t* w = RowOfW(pr, j0);
    const int64_t ldw = pr.w.row_bytes;
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
        StoreSum(pr, pr.c + (i0 + i) * pr.ldc + j0 + j, V::Sum(acc[i][j]));
      }
    }
  }
};

// Lanes p..p+count of a weight row converted one by one with the scalar
// definitions, zero beyond: the tail of a row (and the portable kernels).
template <int kLanes, class Convert>
inline void ExpandLanes(int count, Convert&& convert, float* out) {
  for (int i = 0; i < kLanes; ++i) out[i] = i < count ? convert(i) : 0.0f;
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

// MatMul over fp32 A with the fp32 family of V, MR x NR tiles, for weights
// other than q8_0 (which multiplies packed A: matmul_q8_tiles.h).
template <class V, int MR, int NR>
void RunFloat(const Problem& p, int n_begin, int n_end) {
  const int64_t a_row = int64_t{4} * p.k + p.w.row_bytes;
  switch (p.w.dtype) {
    case WeightDtype::kF32:
      return Drive<FloatTiles<V, F32Loader<V>>, MR, NR>(p, n_begin, n_end,
                                                        a_row);
    case WeightDtype::kBF16:
      return Drive<FloatTiles<V, Half16Loader<V, true>>, MR, NR>(p, n_begin,
                                                                 n_end, a_row);
    case WeightDtype::kF16:
      return Drive<FloatTiles<V, Half16Loader<V, false>>, MR, NR>(p, n_begin,
                                                                  n_end, a_row);
    case WeightDtype::kQ8_0:
      return;  // not a float family: the caller dispatches q8_0 elsewhere
  }
}

}  // namespace headroom::runtime::cpu::tiles

#endif  // HEADROOM_RUNTIME_CPU_MATMUL_TILES_H_
