#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "runtime/weights/safetensors.h"
#include "tests/test_support.h"

namespace headroom::runtime {
namespace {

using ::testing::HasSubstr;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The bytes of a safetensors file: length prefix, `json`, `data`.
std::string MakeFileBytes(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + json + data;
}

std::string WriteBytes(const std::string& dir, const std::string& name,
                       const std::string& bytes) {
  const std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

absl::Status ParseBytes(const std::string& bytes) {
  return ParseSafetensorsHeader(
             absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()),
                                 bytes.size()),
             bytes.size(), "test.safetensors")
      .status();
}

uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }

// Bitwise equality, except that any NaN equals any NaN.
void ExpectSameFloat(float expected, float actual, size_t i) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << "index " << i;
  } else {
    EXPECT_EQ(Bits(expected), Bits(actual))
        << "index " << i << ": " << expected << " vs " << actual;
  }
}

std::vector<float> RandomValues(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  return headroom::testing::NormalValues(static_cast<int64_t>(n), rng, scale);
}

// ---------------------------------------------------------------------------
// fp16 / bf16 conversions

TEST(HalfConversionTest, KnownBitPatterns) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(HalfToFloat(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(Bits(HalfToFloat(0x8000)), Bits(-0.0f));
  EXPECT_EQ(HalfToFloat(0x7c00), kInf);
  EXPECT_EQ(HalfToFloat(0xfc00), -kInf);
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7c01)));  // signalling-NaN payload

  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(kInf), 0x7c00);
  EXPECT_EQ(FloatToHalf(-kInf), 0xfc00);
  EXPECT_EQ(FloatToHalf(kNaN) & 0x7c00, 0x7c00);
  EXPECT_NE(FloatToHalf(kNaN) & 0x03ff, 0);
  // A NaN whose payload is only in the low bits must stay NaN.
  EXPECT_NE(FloatToHalf(std::bit_cast<float>(0x7f800001u)) & 0x03ff, 0);
}

TEST(HalfConversionTest, RoundsToNearestEven) {
  const float ulp1 = std::ldexp(1.0f, -10);         // half ulp at 1.0 is 2^-11
  EXPECT_EQ(FloatToHalf(1.0f + ulp1 / 2), 0x3c00);  // tie -> even (down)
  EXPECT_EQ(FloatToHalf(1.0f + 3 * ulp1 / 2), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(FloatToHalf(std::nextafter(1.0f + ulp1 / 2, 2.0f)), 0x3c01);
  // Overflow: 65519 rounds down to 65504, 65520 (the tie) up to inf.
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-1e6f), 0xfc00);
  // Subnormals: 2^-25 is the tie between 0 and 2^-24 -> 0 (even).
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(FloatToHalf(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp -> 2
  EXPECT_EQ(FloatToHalf(std::ldexp(5.0f, -25)), 0x0002);  // 2.5 ulp -> 2
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -30)), 0x0000);
  EXPECT_EQ(FloatToHalf(-std::ldexp(1.0f, -30)), 0x8000);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::denorm_min()), 0x0000);
  // Largest subnormal rounding up into the smallest normal.
  EXPECT_EQ(FloatToHalf(std::ldexp(1023.75f, -24)), 0x0400);
}

TEST(HalfConversionTest, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if ((h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0) {
      EXPECT_TRUE(std::isnan(f)) << h;
      continue;
    }
    ASSERT_EQ(FloatToHalf(f), h) << "half bits " << h;
  }
}

#ifdef __FLT16_MAX__
// Where the compiler has _Float16, its conversion is the IEEE reference.
TEST(HalfConversionTest, MatchesCompilerFloat16) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float ref =
        static_cast<float>(std::bit_cast<_Float16>(static_cast<uint16_t>(h)));
    ExpectSameFloat(ref, HalfToFloat(static_cast<uint16_t>(h)), h);
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2'000'000; ++i) {
    uint32_t bits = rng();
    // Half the samples in the half range, where the rounding is interesting.
    if (i % 2 == 0) bits = (bits & 0x81ffffffu) | 0x38000000u;
    const float f = std::bit_cast<float>(bits);
    if (std::isnan(f)) continue;
    const _Float16 ref = static_cast<_Float16>(f);
    ASSERT_EQ(FloatToHalf(f), std::bit_cast<uint16_t>(ref)) << "bits " << bits;
  }
}
#endif

TEST(BFloat16ConversionTest, KnownValuesAndRounding) {
  EXPECT_EQ(BFloat16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(BFloat16ToFloat(0x7f80), kInf);
  EXPECT_EQ(BFloat16ToFloat(0x0001), std::bit_cast<float>(0x00010000u));
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(0x7fc0)));
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBFloat16(-kInf), 0xff80);
  EXPECT_EQ(FloatToBFloat16(-0.0f), 0x8000);
  // Ties to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7.
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(FloatToBFloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(FloatToBFloat16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
  // Max float rounds to inf; a NaN with low payload stays NaN.
  EXPECT_EQ(FloatToBFloat16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_TRUE(std::isnan(
      BFloat16ToFloat(FloatToBFloat16(std::bit_cast<float>(0x7f800001u)))));
  // Subnormal floats keep their top bits.
  EXPECT_EQ(FloatToBFloat16(std::bit_cast<float>(0x00010000u)), 0x0001);
}

TEST(BFloat16ConversionTest, EveryBFloat16RoundTrips) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = BFloat16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToBFloat16(f), h) << "bf16 bits " << h;
  }
}

// ---------------------------------------------------------------------------
// Round trips through files

class SafetensorsRoundTripTest : public ::testing::Test {
 protected:
  std::string dir_ = testing::MakeTempDir("st");
};

std::vector<float> SpecialValues() {
  return {0.0f,
          -0.0f,
          1.0f,
          -1.5f,
          kInf,
          -kInf,
          kNaN,
          65504.0f,
          -65504.0f,
          std::ldexp(1.0f, -24),   // smallest half subnormal
          std::ldexp(1.0f, -14),   // smallest half normal
          std::ldexp(3.0f, -20),   // half subnormal
          std::ldexp(1.0f, -126),  // smallest float normal
          1e-3f,
          3.14159265f,
          -12345.678f};
}

TEST_F(SafetensorsRoundTripTest, F32IsExact) {
  std::vector<float> a = RandomValues(6 * 5, 1, 10.0f);
  std::vector<float> special = SpecialValues();
  special.push_back(std::numeric_limits<float>::max());
  special.push_back(std::numeric_limits<float>::denorm_min());
  std::vector<float> scalar = {42.0f};
  const std::string path = dir_ + "/a.safetensors";
  std::vector<SafetensorsTensorToWrite> tensors = {
      {"z.weight", {6, 5}, a},
      {"special", {static_cast<int64_t>(special.size())}, special},
      {"scalar", {}, scalar},
      {"empty", {0, 3}, {}},
  };
  ASSERT_TRUE(WriteSafetensors(path, tensors, SafetensorsDtype::kF32,
                               {{"format", "pt"}, {"note", "h\xC3\xA9llo"}})
                  .ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));

  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  const SafetensorsHeader& h = f->header();
  EXPECT_EQ(h.data_start % 8, 0u);
  EXPECT_EQ(h.tensors.size(), 4u);
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(h.metadata.at("note"), "h\xC3\xA9llo");
  ASSERT_NE(f->Find("z.weight"), nullptr);
  EXPECT_EQ(f->Find("z.weight")->dtype, SafetensorsDtype::kF32);
  EXPECT_THAT(f->Find("z.weight")->shape, ::testing::ElementsAre(6, 5));
  EXPECT_EQ(f->Find("scalar")->numel, 1);
  EXPECT_EQ(f->Find("empty")->numel, 0);
  // Data is laid out by name, back to back, and fills the data section.
  EXPECT_EQ(f->Find("empty")->begin, 0u);
  EXPECT_EQ(f->Find("scalar")->begin, 0u);
  EXPECT_EQ(f->Find("special")->begin, 4u);
  EXPECT_EQ(f->Find("z.weight")->end, h.data_size);

  absl::StatusOr<std::vector<float>> ra = f->ReadFloat("z.weight", {6, 5});
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_EQ(ra->size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) ExpectSameFloat(a[i], (*ra)[i], i);
  absl::StatusOr<std::vector<float>> rs = f->ReadFloat("special");
  ASSERT_TRUE(rs.ok()) << rs.status();
  ASSERT_EQ(rs->size(), special.size());
  for (size_t i = 0; i < special.size(); ++i) {
    ExpectSameFloat(special[i], (*rs)[i], i);
  }
  EXPECT_THAT(*f->ReadFloat("scalar", {}), ::testing::ElementsAre(42.0f));
  EXPECT_TRUE(f->ReadFloat("empty", {0, 3})->empty());
}

// Values survive to within half an ulp of the narrow type; specials exactly.
void CheckNarrowRoundTrip(const std::string& dir, SafetensorsDtype dtype,
                          float rel_tol, float (*to_float)(uint16_t),
                          uint16_t (*from_float)(float)) {
  // Sizes above one conversion chunk (65536) exercise the chunked paths.
  std::vector<float> a = RandomValues(300 * 257, 3, 2.0f);
  std::vector<float> special = SpecialValues();
  const std::string path = dir + "/narrow.safetensors";
  std::vector<SafetensorsTensorToWrite> tensors = {
      {"a", {300, 257}, a},
      {"special", {static_cast<int64_t>(special.size())}, special}};
  ASSERT_TRUE(WriteSafetensors(path, tensors, dtype).ok());
  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Find("a")->dtype, dtype);
  EXPECT_EQ(f->Find("a")->end - f->Find("a")->begin, a.size() * 2);
  EXPECT_TRUE(f->header().metadata.empty());

  absl::StatusOr<std::vector<float>> ra = f->ReadFloat("a", {300, 257});
  ASSERT_TRUE(ra.ok()) << ra.status();
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR((*ra)[i], a[i], std::abs(a[i]) * rel_tol + 1e-7f) << i;
    // And exactly the nearest representable value.
    ASSERT_EQ(Bits((*ra)[i]), Bits(to_float(from_float(a[i])))) << i;
  }
  absl::StatusOr<std::vector<float>> rs = f->ReadFloat("special");
  ASSERT_TRUE(rs.ok()) << rs.status();
  for (size_t i = 0; i < special.size(); ++i) {
    ExpectSameFloat(to_float(from_float(special[i])), (*rs)[i], i);
  }
  EXPECT_EQ((*rs)[4], kInf);
  EXPECT_EQ((*rs)[5], -kInf);
  EXPECT_TRUE(std::isnan((*rs)[6]));
  EXPECT_EQ(Bits((*rs)[1]), Bits(-0.0f));
}

TEST_F(SafetensorsRoundTripTest, F16WithinPrecision) {
  CheckNarrowRoundTrip(dir_, SafetensorsDtype::kF16, std::ldexp(1.0f, -11),
                       &HalfToFloat, &FloatToHalf);
  // Half-precision specials are exact, subnormals included.
  absl::StatusOr<SafetensorsFile> f =
      SafetensorsFile::Open(dir_ + "/narrow.safetensors");
  ASSERT_TRUE(f.ok());
  std::vector<float> s = *f->ReadFloat("special");
  EXPECT_EQ(s[7], 65504.0f);
  EXPECT_EQ(s[9], std::ldexp(1.0f, -24));
  EXPECT_EQ(s[11], std::ldexp(3.0f, -20));
  EXPECT_EQ(s[12], 0.0f);  // float-normal 2^-126 underflows half
}

TEST_F(SafetensorsRoundTripTest, BF16WithinPrecision) {
  CheckNarrowRoundTrip(dir_, SafetensorsDtype::kBF16, std::ldexp(1.0f, -8),
                       &BFloat16ToFloat, &FloatToBFloat16);
}

TEST_F(SafetensorsRoundTripTest, ReadsHandWrittenFile) {
  // F16 [2] = {1.0, -2.0}, BF16 [1] = {1.0}, with padding spaces and an I64
  // tensor that parses but cannot be read as floats.
  std::string data;
  for (uint8_t b : {0x00, 0x3c, 0x00, 0xc0, 0x80, 0x3f}) data.push_back(b);
  data += std::string(8, '\0');
  const std::string json =
      R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
      R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},)"
      R"("ids":{"dtype":"I64","shape":[1],"data_offsets":[6,14]}}   )";
  const std::string path =
      WriteBytes(dir_, "hand.safetensors", MakeFileBytes(json, data));
  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_THAT(*f->ReadFloat("h", {2}), ::testing::ElementsAre(1.0f, -2.0f));
  EXPECT_THAT(*f->ReadFloat("b"), ::testing::ElementsAre(1.0f));
  absl::StatusOr<std::vector<float>> ids = f->ReadFloat("ids");
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(ids.status().message(), HasSubstr("'ids'"));
  EXPECT_THAT(ids.status().message(), HasSubstr("I64"));
}

// ---------------------------------------------------------------------------
// Bad input

class SafetensorsErrorTest : public ::testing::Test {
 protected:
  // Expects InvalidArgument whose message has every one of `parts`.
  static void ExpectInvalid(const std::string& bytes,
                            const std::vector<std::string>& parts) {
    absl::Status s = ParseBytes(bytes);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr("test.safetensors"));
    for (const std::string& p : parts) EXPECT_THAT(s.message(), HasSubstr(p));
  }
  static void ExpectInvalidJson(const std::string& json,
                                const std::string& data,
                                const std::vector<std::string>& parts) {
    ExpectInvalid(MakeFileBytes(json, data), parts);
  }

  std::string dir_ = testing::MakeTempDir("st_err");
};

TEST_F(SafetensorsErrorTest, TruncatedFile) {
  ExpectInvalid("", {"0 bytes", "too short"});
  ExpectInvalid(std::string(5, '\0'), {"5 bytes", "too short"});

  // A real file cut short in the data section.
  std::vector<float> v(16, 1.0f);
  const std::string path = dir_ + "/t.safetensors";
  ASSERT_TRUE(
      WriteSafetensors(path, {{"w", {4, 4}, v}}, SafetensorsDtype::kF32).ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(f.status().message(), HasSubstr(path));
  EXPECT_THAT(f.status().message(), HasSubstr("'w'"));
  EXPECT_THAT(f.status().message(), HasSubstr("past the end of the data"));

  // A file cut in the middle of its 8-byte length.
  const std::string short_path = WriteBytes(dir_, "s.safetensors", "abc");
  f = SafetensorsFile::Open(short_path);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(f.status().message(), HasSubstr("too short"));
}

TEST_F(SafetensorsErrorTest, HeaderSizePastEof) {
  std::string bytes = MakeFileBytes("{}", "");
  bytes[0] = 100;  // claims 100 bytes of JSON; the file has 10 in all
  ExpectInvalid(bytes, {"header length 100", "past the end of the file"});
  // A length near 2^64 must not wrap around.
  std::string huge = MakeFileBytes("{}", "");
  for (int i = 0; i < 8; ++i) huge[i] = '\xff';
  ExpectInvalid(huge, {"18446744073709551615", "past the end"});

  const std::string path = WriteBytes(dir_, "big.safetensors", bytes);
  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(f.status().message(), HasSubstr("header length 100"));
}

TEST_F(SafetensorsErrorTest, BadJson) {
  ExpectInvalidJson("{\"a\": ", "", {"not valid JSON"});
  ExpectInvalidJson("not json", "", {"not valid JSON"});
  ExpectInvalidJson("", "", {"not valid JSON"});
  ExpectInvalidJson("{\"a\": \"\xff\"}", "", {"not valid JSON"});  // bad UTF-8
  ExpectInvalidJson("[1, 2]", "", {"expected an object"});
}

TEST_F(SafetensorsErrorTest, IllTypedEntries) {
  ExpectInvalidJson(R"({"w": 5})", "", {"'w'", "expected object"});
  ExpectInvalidJson(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})",
                    std::string(4, '\0'), {"'w'", "missing field \"dtype\""});
  ExpectInvalidJson(
      R"({"w": {"dtype": 1, "shape": [1], "data_offsets": [0, 4]}})",
      std::string(4, '\0'), {"'w'", "\"dtype\"", "number"});
  ExpectInvalidJson(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})",
                    std::string(4, '\0'), {"'w'", "missing field \"shape\""});
  ExpectInvalidJson(
      R"({"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}})",
      std::string(4, '\0'), {"'w'", "\"shape\"", "array"});
  ExpectInvalidJson(
      R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})",
      std::string(4, '\0'), {"'w'", "-1", "non-negative"});
  ExpectInvalidJson(
      R"({"w": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}})",
      std::string(4, '\0'), {"'w'", "non-negative integer"});
  ExpectInvalidJson(R"({"w": {"dtype": "F32", "shape": [1]}})",
                    std::string(4, '\0'),
                    {"'w'", "missing field \"data_offsets\""});
  ExpectInvalidJson(
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})",
      std::string(4, '\0'), {"'w'", "[begin, end]"});
  ExpectInvalidJson(
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, -4]}})",
      std::string(4, '\0'), {"'w'", "[begin, end]"});
  ExpectInvalidJson(R"({"__metadata__": [1]})", "",
                    {"__metadata__", "expected object"});
  ExpectInvalidJson(R"({"__metadata__": {"format": 3}})", "",
                    {"__metadata__", "'format'", "expected string"});
}

TEST_F(SafetensorsErrorTest, UnsupportedDtype) {
  ExpectInvalidJson(
      R"({"w": {"dtype": "F7", "shape": [1], "data_offsets": [0, 4]}})",
      std::string(4, '\0'), {"'w'", "unsupported dtype 'F7'"});
}

TEST_F(SafetensorsErrorTest, ShapeOverflow) {
  ExpectInvalidJson(
      R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4], "data_offsets": [0, 4]}})",
      std::string(4, '\0'), {"'w'", "more elements than fit in int64"});
  ExpectInvalidJson(
      R"({"w": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 4]}})",
      std::string(4, '\0'), {"'w'", "too large"});
  // numel fits int64 but numel * 8 bytes does not fit u64.
  ExpectInvalidJson(
      R"({"w": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 8]}})",
      std::string(8, '\0'), {"'w'", "more than 2^64"});
  // A zero dimension makes any shape empty.
  EXPECT_TRUE(
      ParseBytes(
          MakeFileBytes(
              R"({"w": {"dtype": "F32", "shape": [0, 9223372036854775807],)"
              R"( "data_offsets": [0, 0]}})",
              ""))
          .ok());
}

TEST_F(SafetensorsErrorTest, OffsetsPastTheEnd) {
  ExpectInvalidJson(
      R"({"w": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}})",
      std::string(16, '\0'),
      {"'w'", "[0, 32)", "past the end of the data section", "16 bytes"});
  ExpectInvalidJson(
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})",
      std::string(16, '\0'), {"'w'", "end 4 is before begin 8"});
}

TEST_F(SafetensorsErrorTest, OverlappingOffsets) {
  ExpectInvalidJson(
      R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
      R"( "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
      std::string(24, '\0'), {"'a'", "'b'", "overlapping"});
  // Same range twice.
  ExpectInvalidJson(
      R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
      R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
      std::string(8, '\0'), {"overlapping"});
  // Empty tensors occupy no bytes and may share an offset.
  EXPECT_TRUE(
      ParseBytes(
          MakeFileBytes(
              R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
              R"( "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}})",
              std::string(8, '\0')))
          .ok());
}

TEST_F(SafetensorsErrorTest, ByteLengthMismatch) {
  ExpectInvalidJson(
      R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}})",
      std::string(16, '\0'),
      {"'w'", "hold 8 bytes", "[2, 2]", "F32", "needs 16 bytes"});
  ExpectInvalidJson(
      R"({"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 8]}})",
      std::string(8, '\0'), {"'w'", "BF16", "needs 6 bytes"});
}

TEST_F(SafetensorsErrorTest, MissingTensorAndWrongShape) {
  std::vector<float> v(6, 0.5f);
  const std::string path = dir_ + "/w.safetensors";
  ASSERT_TRUE(
      WriteSafetensors(path, {{"w", {2, 3}, v}}, SafetensorsDtype::kF16).ok());
  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();

  absl::StatusOr<std::vector<float>> missing = f->ReadFloat("nope", {2, 3});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("'nope'"));
  EXPECT_THAT(missing.status().message(), HasSubstr(path));

  absl::StatusOr<std::vector<float>> wrong = f->ReadFloat("w", {3, 2});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr("'w'"));
  EXPECT_THAT(wrong.status().message(), HasSubstr("has shape [2, 3]"));
  EXPECT_THAT(wrong.status().message(), HasSubstr("expected [3, 2]"));

  absl::StatusOr<SafetensorsFile> none =
      SafetensorsFile::Open(dir_ + "/absent.safetensors");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("absent.safetensors"));
}

TEST_F(SafetensorsErrorTest, ParserNeedsTheWholeHeader) {
  const std::string bytes = MakeFileBytes("{}      ", "");
  absl::Status s = ParseSafetensorsHeader(
                       absl::MakeConstSpan(
                           reinterpret_cast<const uint8_t*>(bytes.data()), 10),
                       bytes.size(), "test.safetensors")
                       .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("needs 16"));
}

TEST_F(SafetensorsErrorTest, WriterRejectsBadInput) {
  std::vector<float> v(6, 1.0f);
  const std::string path = dir_ + "/bad.safetensors";
  absl::Status s =
      WriteSafetensors(path, {{"w", {2, 2}, v}}, SafetensorsDtype::kF32);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'w' has 6 values"));
  EXPECT_THAT(s.message(), HasSubstr("[2, 2]"));

  s = WriteSafetensors(path, {{"w", {6}, v}, {"w", {6}, v}},
                       SafetensorsDtype::kF32);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("twice"));

  s = WriteSafetensors(path, {{"w", {6}, v}}, SafetensorsDtype::kI32);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("I32"));

  std::vector<float> big = {1.0f, 1e5f};
  s = WriteSafetensors(path, {{"big", {2}, big}}, SafetensorsDtype::kF16);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'big'"));
  EXPECT_THAT(s.message(), HasSubstr("overflows F16"));
  // Infinities are values, not overflow.
  std::vector<float> inf = {kInf};
  EXPECT_TRUE(
      WriteSafetensors(path, {{"inf", {1}, inf}}, SafetensorsDtype::kF16).ok());

  s = WriteSafetensors(path, {{"w", {6}, v}}, SafetensorsDtype::kF32,
                       {{"bad", "\xff"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("cannot encode"));
}

}  // namespace
}  // namespace headroom::runtime
