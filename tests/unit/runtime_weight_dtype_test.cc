// The weight dtypes' conversions against their definitions: bf16 and fp16
// round to nearest, ties to even (checked against exact arithmetic on the
// neighbouring representable values, and against the CPU's F16C where it
// has one), q8_0 as GGUF defines it on random and adversarial blocks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "runtime/cpu/matmul.h"
#include "runtime/weights/weight_dtype.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace headroom::runtime {
namespace {

using ::testing::HasSubstr;

// Round-to-nearest-even from first principles: of the two representable
// neighbours lo <= x <= hi (as doubles), the nearer, or the even one.
template <class Decode>
uint16_t NearestEven(double x, uint16_t lo, uint16_t hi, Decode decode) {
  const double dl = x - decode(lo), dh = decode(hi) - x;
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (lo & 1) == 0 ? lo : hi;
}

TEST(WeightDtypeTest, NamesRoundTripAndUnknownIsRefused) {
  for (WeightDtype d : {WeightDtype::kF32, WeightDtype::kF16,
                        WeightDtype::kBF16, WeightDtype::kQ8_0}) {
    EXPECT_EQ(*ParseWeightDtype(WeightDtypeName(d)), d);
  }
  const auto bad = ParseWeightDtype("int4");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("\"int4\""));
  EXPECT_EQ(*WeightRowBytes(WeightDtype::kQ8_0, 64), 68);
  EXPECT_EQ(*WeightRowBytes(WeightDtype::kBF16, 7), 14);
  EXPECT_THAT(WeightRowBytes(WeightDtype::kQ8_0, 33).status().message(),
              HasSubstr("k = 33"));
}

TEST(WeightDtypeTest, Bf16RoundsToNearestEven) {
  std::mt19937 rng(1);
  for (int i = 0; i < 200000; ++i) {
    uint32_t f = rng();
    float x;
    std::memcpy(&x, &f, 4);
    if (!std::isfinite(x)) continue;
    const uint16_t got = FloatToBFloat16(x);
    // Truncation and the next value toward larger magnitude bracket x.
    const uint16_t lo = static_cast<uint16_t>(f >> 16);
    const uint16_t hi = static_cast<uint16_t>(lo + 1);
    const uint16_t want = NearestEven(
        std::fabs(double{x}), lo & 0x7fff, hi & 0x7fff, [](uint16_t b) {
          // Rounding treats infinity as 2^128, the next power after the
          // largest finite value (IEEE 754 overflow rule).
          return b == 0x7f80 ? std::ldexp(1.0, 128)
                             : std::fabs(double{BFloat16ToFloat(b)});
        });
    ASSERT_EQ(got & 0x7fff, want) << x;
    ASSERT_EQ(got & 0x8000, lo & 0x8000) << x;
  }
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(NAN))));
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(FLT_MAX)), INFINITY);  // rounds up
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.0f)), 1.0f);
}

#if defined(__x86_64__)
// The CPU's own conversion (F16C), an independent oracle.
__attribute__((target("f16c"))) uint16_t HardwareHalf(float x) {
  return _cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
}
#endif

TEST(WeightDtypeTest, HalfRoundsToNearestEvenIncludingSubnormals) {
  // Every half value decodes and re-encodes to itself (NaNs stay NaN).
  for (uint32_t h = 0; h < 65536; ++h) {
    const float x = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(x))));
      continue;
    }
    ASSERT_EQ(FloatToHalf(x), h) << h;
  }
  // Midpoints and near-midpoints between neighbours round as defined.
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    const double lo = HalfToFloat(static_cast<uint16_t>(h));
    const double hi = HalfToFloat(static_cast<uint16_t>(h + 1));
    for (double t : {0.25, 0.5, 0.75}) {
      const float x = static_cast<float>(lo + (hi - lo) * t);
      const uint16_t want = NearestEven(
          double{x}, static_cast<uint16_t>(h), static_cast<uint16_t>(h + 1),
          [](uint16_t b) { return double{HalfToFloat(b)}; });
      ASSERT_EQ(FloatToHalf(x), want) << x;
    }
  }
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // the first value that overflows
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(-1e-9f), 0x8000);  // underflows to -0
#if defined(__x86_64__)
  if (cpu::CpuHasF16c()) {
    std::mt19937 rng(2);
    for (int i = 0; i < 200000; ++i) {
      uint32_t f = rng();
      float x;
      std::memcpy(&x, &f, 4);
      if (std::isnan(x)) continue;
      ASSERT_EQ(FloatToHalf(x), HardwareHalf(x)) << x;
    }
  }
#endif
}

// The Q8_0 definition, written out again for the test.
void ExpectBlockFollowsDefinition(const float* x, const Q8_0Block& b) {
  float amax = 0.0f;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  EXPECT_EQ(b.scale, FloatToHalf(d));
  const float inverse = d == 0.0f ? 0.0f : 1.0f / d;
  for (int i = 0; i < 32; ++i) {
    // x * (1 / d) as GGUF computes it; x / d where 1 / d overflows;
    // clamped to +-127 (only a subnormal d rounded down can exceed it).
    const float scaled = d == 0.0f                ? 0.0f
                         : std::isfinite(inverse) ? x[i] * inverse
                                                  : x[i] / d;
    const float want = std::clamp(std::round(scaled), -127.0f, 127.0f);
    EXPECT_EQ(b.q[i], static_cast<int8_t>(want)) << i;
    EXPECT_LE(std::abs(b.q[i]), 127);
  }
}

TEST(WeightDtypeTest, Q8_0FollowsItsDefinitionOnRandomAndAdversarialBlocks) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(32 * 7);
  for (int i = 0; i < 32; ++i) x[i] = normal(rng);           // random
  for (int i = 32; i < 64; ++i) x[i] = 0.0f;                 // all zeros
  for (int i = 64; i < 96; ++i) x[i] = 1e-3f * normal(rng);  // one huge
  x[70] = 3e4f;
  for (int i = 96; i < 128; ++i) x[i] = 1e-40f * (i - 112);  // subnormals
  for (int i = 128; i < 160; ++i) x[i] = (i % 2 ? 1 : -1) * 127.0f;
  for (int i = 160; i < 192; ++i) x[i] = 0.5f + (i - 160);  // .5 ties
  for (int i = 192; i < 224; ++i) x[i] = 1e-43f * (i % 5);  // near 0
  auto blocks = QuantizeQ8_0(x, "layers.0.wq");
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  ASSERT_EQ(blocks->size(), 7u);
  for (size_t b = 0; b < 7; ++b) {
    ExpectBlockFollowsDefinition(x.data() + 32 * b, (*blocks)[b]);
  }
  EXPECT_EQ((*blocks)[1].scale, 0);  // zeros: scale 0, weights 0
  for (int i = 0; i < 32; ++i) EXPECT_EQ(Q8_0Weight((*blocks)[1], i), 0.0f);
  EXPECT_EQ((*blocks)[2].q[6], 127);  // the huge value takes the top code
  // The dequantized random block is within half a step of the input.
  const float step = HalfToFloat((*blocks)[0].scale);
  for (int i = 0; i < 32; ++i) {
    EXPECT_NEAR(Q8_0Weight((*blocks)[0], i), x[i], 0.5f * step + 1e-3f * step);
  }
}

TEST(WeightDtypeTest, Q8_0RefusesNonFiniteValuesAndRaggedLengths) {
  std::vector<float> x(64, 1.0f);
  x[40] = NAN;
  auto nan = QuantizeQ8_0(x, "layers.3.w2");
  EXPECT_EQ(nan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(nan.status().message(), HasSubstr("layers.3.w2"));
  EXPECT_THAT(nan.status().message(), HasSubstr("index 40"));
  x[40] = INFINITY;
  EXPECT_FALSE(QuantizeQ8_0(x, "w").ok());
  x.resize(40, 1.0f);
  x[39] = 1.0f;
  auto ragged = QuantizeQ8_0(std::vector<float>(40, 1.0f), "w");
  EXPECT_THAT(ragged.status().message(), HasSubstr("multiple of 32"));
}

}  // namespace
}  // namespace headroom::runtime
