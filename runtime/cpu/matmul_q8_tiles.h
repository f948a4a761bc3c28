// MatMul's q8_0 tiles (matmul.h): q8_0 weights (blocks of 32 int8 and an
// fp16 scale) against A packed as q8 blocks (ActivationForm::kQ8: 32 int8
// and an fp32 scale), written once over an integer-dot ISA type `I` and
// instantiated in matmul_<isa>.cc. Include only from those files (and after
// matmul_tiles.h).
//
// The recipe of one output, over its blocks b ascending:
//   s[l]   = sum of qw[4l + t] * qa[4l + t], t = 0..3, for lanes l = 0..7
//            (exact 32-bit integers, whatever instruction forms them);
//   acc[l] = float(s[l]) * (dw * da) + acc[l]  (one fp32 accumulator of 8
//            lanes; dw * da one fp32 multiply; fused where I fuses);
// then I::Sum(acc), a fixed-order sum of the 8 lanes. The integers are the
// same on every ISA, and AVX2 and AVX-512 share the fused float steps and
// the sum, so they give the same bits.
//
// I provides: Acc (8 fp32 lanes), Scale (8 equal fp32 lanes), Weights and
// Activations (a block of 32 int8 prepared for the dot); Zero();
// PrepareWeights(q), PrepareActivations(q); WeightScale(h) (an fp16 scale
// as fp32), Broadcast(x), Mul(x, y); Step(acc, w, a, scale) = acc +
// float(dot(w, a)) * scale per lane; Sum(acc).
#ifndef HEADROOM_RUNTIME_CPU_MATMUL_Q8_TILES_H_
#define HEADROOM_RUNTIME_CPU_MATMUL_Q8_TILES_H_

#include <cstdint>

#include "runtime/cpu/matmul.h"
#include "runtime/cpu/matmul_tiles.h"
#include "runtime/weights/weight_dtype.h"

namespace headroom::runtime::cpu::tiles {

template <class I>
struct Q8Tiles {
  template <int MR, int NR>
  static void Run(const Problem& pr, int i0, int j0) {
    const int blocks = pr.k / kQ8_0BlockSize;
    const Q8ActivationBlock* a[MR];
    const Q8_0Block* w[NR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      a[i] = reinterpret_cast<const Q8ActivationBlock*>(RowOfA(pr, i0 + i));
    }
#pragma GCC unroll 16
    for (int j = 0; j < NR; ++j) {
      w[j] = reinterpret_cast<const Q8_0Block*>(RowOfW(pr, j0 + j));
    }
    typename I::Acc acc[MR][NR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) acc[i][j] = I::Zero();
    }
    for (int b = 0; b < blocks; ++b) {
      typename I::Weights wv[NR];
      typename I::Scale dw[NR];
#pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) {
        wv[j] = I::PrepareWeights(w[j][b].q);
        dw[j] = I::WeightScale(w[j][b].scale);
      }
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const typename I::Activations av = I::PrepareActivations(a[i][b].q);
        const typename I::Scale da = I::Broadcast(a[i][b].scale);
#pragma GCC unroll 16
        for (int j = 0; j < NR; ++j) {
          acc[i][j] = I::Step(acc[i][j], wv[j], av, I::Mul(dw[j], da));
        }
      }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) {
        StoreSum(pr, pr.c + (i0 + i) * pr.ldc + j0 + j, I::Sum(acc[i][j]));
      }
    }
  }
};

// MatMul of q8-packed A against q8_0 W with I's MR x NR tiles.
template <class I, int MR, int NR>
void RunQ8(const Problem& p, int n_begin, int n_end) {
  Drive<Q8Tiles<I>, MR, NR>(p, n_begin, n_end, p.a_stride + p.w.row_bytes);
}

}  // namespace headroom::runtime::cpu::tiles

#endif  // HEADROOM_RUNTIME_CPU_MATMUL_Q8_TILES_H_
