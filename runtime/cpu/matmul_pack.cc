// PackActivations (matmul.h): A's rows as the bf16 and q8 kernels read
// them. Plain C++ built once for every ISA, so a row packs to the same
// bytes whichever kernels run.
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/cpu/matmul.h"
#include "runtime/weights/weight_dtype.h"

namespace headroom::runtime::cpu {
namespace {

constexpr int kBlock = kQ8_0BlockSize;

int64_t PaddedTo32(int k) { return (int64_t{k} + 31) / 32 * 32; }

void PackBf16Row(int k, const float* a, uint16_t* out) {
  for (int p = 0; p < k; ++p) out[p] = FloatToBFloat16(a[p]);
  for (int64_t p = k; p < PaddedTo32(k); ++p) out[p] = 0;
}

// x rounded to the nearest integer, ties to even, for |x| < 2^22: adding
// 1.5 * 2^23 leaves no fraction bits, so the addition rounds (in the
// default rounding mode) and the subtraction is exact. Plain adds, so the
// loop below vectorizes (std::nearbyint is a library call on x86-64).
// This file is built with -ffp-contract=off: x * inverse + magic must not
// fuse.
inline float RoundToNearestEven(float x) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (x + kMagic) - kMagic;
}

// One block of 32 values (matmul.h, ActivationForm::kQ8).
void PackQ8Block(const float* x, Q8ActivationBlock& out) {
  float amax = 0.0f;
  int finite = 1;
  for (int t = 0; t < kBlock; ++t) {
    const float v = std::fabs(x[t]);
    finite &= v <= FLT_MAX;  // 0 for NaN and infinity
    amax = v > amax ? v : amax;
  }
  const float d = amax / 127.0f;
  const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
  if (!finite) {
    out.scale = std::numeric_limits<float>::quiet_NaN();
  } else if (d == 0.0f || !(inverse <= FLT_MAX)) {
    out.scale = 0.0f;  // zeros, or too small to scale
  } else {
    out.scale = d;
    for (int t = 0; t < kBlock; ++t) {
      // |x * (1 / d)| <= 127 up to one rounding: clamp that away.
      const float q = RoundToNearestEven(x[t] * inverse);
      out.q[t] = static_cast<int8_t>(q > 127.0f    ? 127.0f
                                     : q < -127.0f ? -127.0f
                                                   : q);
    }
    return;
  }
  std::memset(out.q, 0, sizeof(out.q));
}

}  // namespace

int64_t PackedRowBytes(ActivationForm form, int k) {
  switch (form) {
    case ActivationForm::kF32:
      return 0;
    case ActivationForm::kBf16:
      return PaddedTo32(k) * static_cast<int64_t>(sizeof(uint16_t));
    case ActivationForm::kQ8:
      return int64_t{k} / kBlock *
             static_cast<int64_t>(sizeof(Q8ActivationBlock));
  }
  return 0;
}

void PackActivations(ActivationForm form, int m, int k, const float* a,
                     int64_t lda, uint8_t* out) {
  const int64_t row_bytes = PackedRowBytes(form, k);
  for (int i = 0; i < m; ++i) {
    const float* x = a + i * lda;
    uint8_t* row = out + i * row_bytes;
    switch (form) {
      case ActivationForm::kF32:
        return;
      case ActivationForm::kBf16:
        PackBf16Row(k, x, reinterpret_cast<uint16_t*>(row));
        break;
      case ActivationForm::kQ8: {
        auto* blocks = reinterpret_cast<Q8ActivationBlock*>(row);
        for (int b = 0; b < k / kBlock; ++b) {
          PackQ8Block(x + int64_t{b} * kBlock, blocks[b]);
        }
        break;
      }
    }
  }
}

}  // namespace headroom::runtime::cpu
