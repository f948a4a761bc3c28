#include "runtime/weights/weight_dtype.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace headroom::runtime {
namespace {

uint32_t FloatBits(float f) { return std::bit_cast<uint32_t>(f); }
float BitsFloat(uint32_t u) { return std::bit_cast<float>(u); }

}  // namespace

const char* WeightDtypeName(WeightDtype dtype) {
  switch (dtype) {
    case WeightDtype::kF32:
      return "f32";
    case WeightDtype::kF16:
      return "f16";
    case WeightDtype::kBF16:
      return "bf16";
    case WeightDtype::kQ8_0:
      return "q8_0";
  }
  return "?";
}

absl::StatusOr<WeightDtype> ParseWeightDtype(std::string_view name) {
  for (WeightDtype d : {WeightDtype::kF32, WeightDtype::kF16,
                        WeightDtype::kBF16, WeightDtype::kQ8_0}) {
    if (name == WeightDtypeName(d)) return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("weight dtype \"", std::string(name),
                   "\": expected f32, f16, bf16 or q8_0"));
}

absl::StatusOr<int64_t> WeightRowBytes(WeightDtype dtype, int64_t k) {
  if (k < 0) return absl::InvalidArgumentError("k must be >= 0");
  switch (dtype) {
    case WeightDtype::kF32:
      return 4 * k;
    case WeightDtype::kF16:
    case WeightDtype::kBF16:
      return 2 * k;
    case WeightDtype::kQ8_0:
      if (k % kQ8_0BlockSize != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "q8_0 rows must be a multiple of 32 weights, got k = ", k));
      }
      return k / kQ8_0BlockSize * int64_t{sizeof(Q8_0Block)};
  }
  return absl::InvalidArgumentError("unknown weight dtype");
}

// binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exp = (bits >> 10) & 0x1fu;
  uint32_t mant = bits & 0x3ffu;
  if (exp == 0x1f) {  // inf, or NaN with its payload kept
    return BitsFloat(sign | 0x7f800000u | (mant << 13));
  }
  if (exp == 0) {
    if (mant == 0) return BitsFloat(sign);  // +-0
    // Subnormal: mant * 2^-24. Normalise so the leading 1 is at bit 10;
    // each shift lowers the binary32 exponent (113 = 2^-14 biased by 127).
    uint32_t e = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    return BitsFloat(sign | (e << 23) | ((mant & 0x3ffu) << 13));
  }
  // Normal: rebias the exponent from 15 to 127.
  return BitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t FloatToHalf(float value) {
  uint32_t x = FloatBits(value);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) {
    if (x == 0x7f800000u) return sign | 0x7c00u;  // inf
    // NaN: keep the top payload bits and force the quiet bit so a payload
    // living only in the dropped low bits cannot turn into inf.
    return sign | 0x7e00u | static_cast<uint16_t>((x >> 13) & 0x3ffu);
  }
  // 65520 = 0x477ff000 is halfway between 65504 (the largest half) and 2^16;
  // the tie goes to the even neighbour, which is inf.
  if (x >= 0x477ff000u) return sign | 0x7c00u;
  if (x < 0x38800000u) {  // below 2^-14: a half subnormal or zero
    // 2^-25 (0x33000000) is the tie between 0 and the smallest subnormal
    // 2^-24 and rounds to even (0).
    if (x <= 0x33000000u) return sign;
    const uint32_t exp = x >> 23;  // 102..112
    const uint32_t mant = (x & 0x7fffffu) | 0x800000u;
    // value = mant * 2^(exp - 150) = h * 2^-24  =>  h = mant >> (126 - exp).
    const uint32_t shift = 126 - exp;  // 14..24
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;  // may become 2^-14
    return sign | static_cast<uint16_t>(h);
  }
  // Normal: rebias the exponent (127 -> 15) and drop 13 mantissa bits. A
  // carry out of the mantissa correctly bumps the exponent.
  uint32_t h = (x - 0x38000000u) >> 13;
  const uint32_t rem = x & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

// bfloat16 is the top half of a binary32.
float BFloat16ToFloat(uint16_t bits) {
  return BitsFloat(static_cast<uint32_t>(bits) << 16);
}

uint16_t FloatToBFloat16(float value) {
  const uint32_t x = FloatBits(value);
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  }
  // Round to nearest even: add 0x7fff plus the lowest kept bit; overflow
  // past the largest finite value carries into the exponent and gives inf.
  const uint32_t rounded = x + 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

float Q8_0Weight(const Q8_0Block& b, int i) {
  return static_cast<float>(b.q[i]) * HalfToFloat(b.scale);
}

absl::StatusOr<std::vector<Q8_0Block>> QuantizeQ8_0(
    absl::Span<const float> values, std::string_view name) {
  if (values.size() % kQ8_0BlockSize != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(name), ": q8_0 needs a multiple of 32 values, got ",
        values.size()));
  }
  std::vector<Q8_0Block> blocks(values.size() / kQ8_0BlockSize);
  for (size_t b = 0; b < blocks.size(); ++b) {
    const float* x = values.data() + b * kQ8_0BlockSize;
    float amax = 0.0f;
    for (int i = 0; i < kQ8_0BlockSize; ++i) {
      if (!std::isfinite(x[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(name), " has ", x[i], " at index ",
                         b * kQ8_0BlockSize + i, ": q8_0 needs finite values"));
      }
      amax = std::max(amax, std::fabs(x[i]));
    }
    // GGUF's definition: d = amax / 127, q = round(x / d) taken as
    // x * (1 / d) in fp32 and rounded half away from zero. Where 1 / d
    // overflows (amax below about 127 / FLT_MAX, subnormal inputs), the
    // multiply would give infinities: divide instead; and a subnormal d
    // rounded far down could push x / d past 127: clamp (no effect on
    // normal inputs, whose |x * (1 / d)| <= 127).
    const float d = amax / 127.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].scale = FloatToHalf(d);
    for (int i = 0; i < kQ8_0BlockSize; ++i) {
      const float scaled = std::isfinite(inverse) ? x[i] * inverse : x[i] / d;
      blocks[b].q[i] =
          static_cast<int8_t>(std::clamp(std::round(scaled), -127.0f, 127.0f));
    }
  }
  return blocks;
}

}  // namespace headroom::runtime
