// WeightDtype: how a weight matrix is stored: fp32, fp16, bf16, or q8_0
// (GGUF's Q8_0: blocks of 32 weights as 32 int8 and one fp16 scale,
// w = q * scale). The conversions here are the definitions the kernels and
// the tests share.
//
//   auto dtype = ParseWeightDtype("bf16");
//   uint16_t b = FloatToBFloat16(x);      // round to nearest even
//   auto blocks = QuantizeQ8_0(row, "layers.0.wq");  // NaN/Inf refused
#ifndef HEADROOM_RUNTIME_WEIGHTS_WEIGHT_DTYPE_H_
#define HEADROOM_RUNTIME_WEIGHTS_WEIGHT_DTYPE_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace headroom::runtime {

enum class WeightDtype { kF32, kF16, kBF16, kQ8_0 };

// "f32", "f16", "bf16", "q8_0".
const char* WeightDtypeName(WeightDtype dtype);
// The names above; InvalidArgument listing them otherwise.
absl::StatusOr<WeightDtype> ParseWeightDtype(std::string_view name);

inline constexpr int kQ8_0BlockSize = 32;
struct Q8_0Block {
  uint16_t scale;  // fp16 bits
  int8_t q[kQ8_0BlockSize];
};
static_assert(sizeof(Q8_0Block) == 34, "Q8_0 blocks are 34 bytes");

// Bytes one row of `k` weights takes; k must be a multiple of 32 for q8_0
// (InvalidArgument naming k otherwise).
absl::StatusOr<int64_t> WeightRowBytes(WeightDtype dtype, int64_t k);

// IEEE 754 binary16 and bfloat16 <-> binary32. The narrowing conversions
// round to nearest, ties to even; overflow gives +-inf, NaN stays NaN (quiet),
// subnormals are produced and read exactly. bfloat16 is the top half of a
// binary32.
float HalfToFloat(uint16_t bits);
uint16_t FloatToHalf(float value);
float BFloat16ToFloat(uint16_t bits);
uint16_t FloatToBFloat16(float value);

// GGUF's Q8_0 of `values` (a multiple of 32 long): per block of 32, scale
// d = max|x| / 127 stored as fp16, q_i = round(x_i * (1 / d)) (ties away
// from zero; x_i / d where 1 / d overflows), d = 0 and q = 0 for a block of
// zeros. NaN or infinity is
// InvalidArgument naming `name` and the index.
absl::StatusOr<std::vector<Q8_0Block>> QuantizeQ8_0(
    absl::Span<const float> values, std::string_view name);
// The weight block b stands for at position i: q_i * scale, as the kernels
// compute it (one float multiply). Not inline: the ISA-specific kernel
// files call it, and must not emit a shared copy built for their ISA.
float Q8_0Weight(const Q8_0Block& b, int i);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_WEIGHTS_WEIGHT_DTYPE_H_
