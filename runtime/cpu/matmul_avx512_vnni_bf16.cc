// MatMul's tiles for AVX-512 with VNNI and BF16 (compiled with -mavx512f
// -mavx512bw -mavx512vl -mavx512vnni -mavx512bf16 -mfma -mf16c; called only
// when the CPU has them: matmul.cc checks). fp32 and f16 weights take the
// AVX-512F kernels; bf16 weights multiply A rounded to bf16 with vdpbf16ps;
// q8_0 weights multiply q8 blocks of A with vpdpbusd.

#include "runtime/cpu/matmul.h"
#include "runtime/cpu/matmul_q8_tiles.h"
#include "runtime/cpu/matmul_tiles.h"
#include "runtime/cpu/matmul_x86.h"

namespace headroom::runtime::cpu {
namespace {

// The bf16 family: A's rows packed as bf16 (zero padded to a multiple of
// 32), W's rows bf16. One 16-lane fp32 accumulator per output; each step
// takes 32 values, k ascending: vdpbf16ps adds to lane l the products of
// values 2l and 2l + 1 (each exact in fp32), rounding to nearest even, with
// bf16 subnormals read as zero. The last step loads the rest of W's row
// with zeros beyond it.
struct Bf16Tiles {
  template <int MR, int NR>
  static void Run(const MatMulProblem& pr, int i0, int j0) {
    const int k = pr.k;
    const uint8_t* a = tiles::RowOfA(pr, i0);
    const uint8_t* w = tiles::RowOfW(pr, j0);
    const int64_t ldw = pr.w.row_bytes;
    __m512 acc[MR][NR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
    }
    for (int p = 0; p < k; p += 32) {
      __m512i wv[NR];
      if (p + 32 <= k) {
#pragma GCC unroll 16
        for (int j = 0; j < NR; ++j) {
          wv[j] = _mm512_loadu_si512(w + j * ldw + 2 * p);
        }
      } else {
        const __mmask32 rest = static_cast<__mmask32>((1ull << (k - p)) - 1);
#pragma GCC unroll 16
        for (int j = 0; j < NR; ++j) {
          wv[j] = _mm512_maskz_loadu_epi16(rest, w + j * ldw + 2 * p);
        }
      }
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        const __m512i av = _mm512_loadu_si512(a + i * pr.a_stride + 2 * p);
#pragma GCC unroll 16
        for (int j = 0; j < NR; ++j) {
          acc[i][j] =
              _mm512_dpbf16_ps(acc[i][j], (__m512bh)av, (__m512bh)wv[j]);
        }
      }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) {
        tiles::StoreSum(pr, pr.c + (i0 + i) * pr.ldc + j0 + j,
                        SumOf16Lanes(acc[i][j]));
      }
    }
  }
};

}  // namespace

void RunAvx512(const MatMulProblem& p, int n_begin, int n_end);

ActivationForm Avx512VnniBf16Form(WeightDtype dtype) {
  switch (dtype) {
    case WeightDtype::kBF16:
      return ActivationForm::kBf16;
    case WeightDtype::kQ8_0:
      return ActivationForm::kQ8;
    case WeightDtype::kF32:
    case WeightDtype::kF16:
      break;
  }
  return ActivationForm::kF32;
}

// bf16 and q8_0: 4 x 4 tiles (16 accumulators of the 32 registers).
void RunAvx512VnniBf16(const MatMulProblem& p, int n_begin, int n_end) {
  switch (p.w.dtype) {
    case WeightDtype::kBF16:
      return tiles::Drive<Bf16Tiles, 4, 4>(p, n_begin, n_end,
                                           p.a_stride + p.w.row_bytes);
    case WeightDtype::kQ8_0:
      return tiles::RunQ8<YmmQ8</*kVnni=*/true>, 4, 4>(p, n_begin, n_end);
    case WeightDtype::kF32:
    case WeightDtype::kF16:
      break;
  }
  RunAvx512(p, n_begin, n_end);
}

}  // namespace headroom::runtime::cpu
