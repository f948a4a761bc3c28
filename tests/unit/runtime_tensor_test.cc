// Tensor: dtypes, views and their ownership, copy on write, and the
// loaders' view-or-convert rule (TensorFromStored).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/weights/mapped_file.h"
#include "runtime/weights/tensor.h"
#include "tests/test_support.h"

namespace headroom::runtime {
namespace {

using ::testing::HasSubstr;

std::vector<float> RandomValues(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  return headroom::testing::NormalValues(n, rng);
}

// Each dtype stores what its definition says: the fp16 / bf16 rounding of
// each value, or the Q8_0 blocks of each row (weight_dtype.h).
TEST(TensorTest, FromFloatStoresEachDtypeByItsDefinition) {
  const int64_t rows = 3, cols = 64;
  const std::vector<float> v = RandomValues(rows * cols, 1);
  for (WeightDtype dtype : {WeightDtype::kF32, WeightDtype::kF16,
                            WeightDtype::kBF16, WeightDtype::kQ8_0}) {
    SCOPED_TRACE(WeightDtypeName(dtype));
    auto t = Tensor::FromFloat(v, rows, cols, dtype, "t");
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->dtype(), dtype);
    EXPECT_EQ(t->numel(), rows * cols);
    EXPECT_EQ(t->row_bytes(), *WeightRowBytes(dtype, cols));
    EXPECT_FALSE(t->is_view());
    const std::vector<float> back = t->ToFloat();
    for (int64_t r = 0; r < rows; ++r) {
      auto blocks =
          QuantizeQ8_0(absl::MakeConstSpan(v.data() + r * cols, cols), "row");
      ASSERT_TRUE(blocks.ok());
      std::vector<float> row(cols);
      t->RowToFloat(r, row.data());
      for (int64_t i = 0; i < cols; ++i) {
        const float x = v[r * cols + i];
        float want = x;
        if (dtype == WeightDtype::kF16) want = HalfToFloat(FloatToHalf(x));
        if (dtype == WeightDtype::kBF16) {
          want = BFloat16ToFloat(FloatToBFloat16(x));
        }
        if (dtype == WeightDtype::kQ8_0) {
          want = Q8_0Weight((*blocks)[i / kQ8_0BlockSize], i % kQ8_0BlockSize);
        }
        ASSERT_EQ(row[i], want) << "row " << r << " col " << i;
        ASSERT_EQ(back[r * cols + i], want);
      }
    }
  }
}

// A large matrix is quantized on several threads: the same blocks as one
// pass over it, and an error names its index in the whole tensor.
TEST(TensorTest, LargeQ8_0IsTheSameWhateverTheThreads) {
  const int64_t rows = 2048, cols = 2080;  // 4.3M values: the parallel path
  std::vector<float> v = RandomValues(rows * cols, 5);
  auto t = Tensor::FromFloat(v, rows, cols, WeightDtype::kQ8_0, "big");
  ASSERT_TRUE(t.ok()) << t.status();
  auto whole = QuantizeQ8_0(v, "big");
  ASSERT_TRUE(whole.ok());
  ASSERT_EQ(t->bytes(), static_cast<int64_t>(whole->size() * 34));
  EXPECT_EQ(std::memcmp(t->data(), whole->data(), t->bytes()), 0);
  const int64_t at = (rows - 3) * cols + 17;
  v[at] = std::numeric_limits<float>::infinity();
  auto bad = Tensor::FromFloat(v, rows, cols, WeightDtype::kQ8_0, "big");
  EXPECT_THAT(bad.status().message(),
              HasSubstr("at index " + std::to_string(at)));
}

TEST(TensorTest, FromFloatRefusesWhatTheDtypeCannotHold) {
  const std::vector<float> v(2 * 48, 1.0f);
  auto bad_count =
      Tensor::FromFloat(v, 2, 40, WeightDtype::kF32, "layers.0.wq");
  EXPECT_THAT(bad_count.status().message(), HasSubstr("layers.0.wq"));
  EXPECT_THAT(bad_count.status().message(), HasSubstr("[2, 40]"));
  auto odd_cols = Tensor::FromFloat(v, 2, 48, WeightDtype::kQ8_0, "w2");
  EXPECT_EQ(odd_cols.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(odd_cols.status().message(), HasSubstr("w2"));
  EXPECT_THAT(odd_cols.status().message(), HasSubstr("48"));

  std::vector<float> nan(64, 0.5f);
  nan[40] = std::numeric_limits<float>::quiet_NaN();
  auto q = Tensor::FromFloat(nan, 2, 32, WeightDtype::kQ8_0, "w1");
  EXPECT_THAT(q.status().message(), HasSubstr("w1"));
  EXPECT_THAT(q.status().message(), HasSubstr("index 40"));

  std::vector<float> big(32, 1.0f);
  big[7] = 70000.0f;  // above f16's largest finite value, 65504
  auto half = Tensor::FromFloat(big, 1, 32, WeightDtype::kF16, "wo");
  EXPECT_THAT(half.status().message(), HasSubstr("overflows f16"));
  EXPECT_THAT(half.status().message(), HasSubstr("index 7"));
  EXPECT_TRUE(Tensor::FromFloat(big, 1, 32, WeightDtype::kBF16, "wo").ok());
}

// A view keeps its owner alive; the owner goes when the last view does.
TEST(TensorTest, ViewsShareTheirOwner) {
  auto bytes = std::make_shared<std::vector<uint16_t>>(4 * 8);
  for (size_t i = 0; i < bytes->size(); ++i) {
    (*bytes)[i] = FloatToBFloat16(static_cast<float>(i));
  }
  std::weak_ptr<std::vector<uint16_t>> watch = bytes;
  const void* data = bytes->data();
  Tensor view = Tensor::View(WeightDtype::kBF16, 4, 8, data, bytes);
  bytes.reset();
  ASSERT_FALSE(watch.expired());
  EXPECT_TRUE(view.is_view());
  EXPECT_EQ(view.data(), data);
  EXPECT_EQ(view.bytes(), 4 * 8 * 2);
  Tensor copy = view;
  view = Tensor();
  ASSERT_FALSE(watch.expired());
  std::vector<float> row(8);
  copy.RowToFloat(2, row.data());
  EXPECT_EQ(row[3], 19.0f);
  copy = Tensor();
  EXPECT_TRUE(watch.expired());
}

// MutableF32 never writes through to storage another tensor or a mapping
// sees; a sole owner writes in place.
TEST(TensorTest, MutableF32CopiesOnWrite) {
  Tensor a = Tensor::FromF32({1, 2, 3, 4}, 2, 2);
  const void* before = a.data();
  a.MutableF32()[0] = 10;  // sole owner: in place
  EXPECT_EQ(a.data(), before);
  Tensor b = a;
  b.MutableF32()[1] = 20;
  EXPECT_NE(b.data(), a.data());
  EXPECT_EQ(a.ToFloat(), (std::vector<float>{10, 2, 3, 4}));
  EXPECT_EQ(b.ToFloat(), (std::vector<float>{10, 20, 3, 4}));

  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{5, 6});
  Tensor view = Tensor::View(WeightDtype::kF32, 1, 2, owner->data(), owner);
  view.MutableF32()[0] = 7;
  EXPECT_EQ((*owner)[0], 5.0f);
  EXPECT_FALSE(view.is_view());
  EXPECT_EQ(view.ToFloat(), (std::vector<float>{7, 6}));

  Tensor half = *Tensor::FromFloat({1, 2}, 1, 2, WeightDtype::kF16, "h");
  EXPECT_EQ(half.MutableF32(), nullptr);
  EXPECT_EQ(half.f32(), nullptr);
}

TEST(TensorTest, AsF32SharesOrWidens) {
  Tensor f = Tensor::FromF32({1, 2}, 1, 2);
  EXPECT_EQ(f.AsF32().data(), f.data());
  Tensor b = *Tensor::FromFloat({1.5f, -2.25f}, 1, 2, WeightDtype::kBF16, "b");
  Tensor wide = b.AsF32();
  EXPECT_EQ(wide.dtype(), WeightDtype::kF32);
  EXPECT_EQ(wide.ToFloat(), (std::vector<float>{1.5f, -2.25f}));
}

TEST(TensorTest, ServedDtypeKeepsOrFallsBack) {
  EXPECT_EQ(ServedDtype(std::nullopt, WeightDtype::kBF16, 4096),
            WeightDtype::kBF16);
  EXPECT_EQ(ServedDtype(WeightDtype::kQ8_0, WeightDtype::kBF16, 4096),
            WeightDtype::kQ8_0);
  // stories260K's hidden size: q8_0 cannot hold rows of 172 weights.
  EXPECT_EQ(ServedDtype(WeightDtype::kQ8_0, WeightDtype::kF32, 172),
            WeightDtype::kF16);
  EXPECT_EQ(ServedDtype(WeightDtype::kF32, WeightDtype::kF16, 172),
            WeightDtype::kF32);
}

// `values`' bytes written to a fresh file named `name`, mapped.
template <typename T>
std::shared_ptr<const MappedFile> MappedCopy(const std::vector<T>& values,
                                             const std::string& name) {
  const std::string path =
      headroom::testing::MakeTempDir("tensor_" + name) + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr) << path;
  std::fwrite(values.data(), sizeof(T), values.size(), f);
  std::fclose(f);
  auto file = MappedFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  return *std::move(file);
}

// The loaders' rule: the stored bytes themselves when the served dtype is
// theirs, a converted copy otherwise.
TEST(TensorTest, TensorFromStoredViewsOrConverts) {
  const std::vector<float> values = RandomValues(2 * 32, 3);
  auto stored = MappedCopy(values, "f32.bin");
  const void* bytes = stored->data();
  auto same = TensorFromStored(WeightDtype::kF32, 2, 32, bytes, stored,
                               std::nullopt, "w");
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->is_view());
  EXPECT_EQ(same->data(), bytes);
  auto explicit_f32 = TensorFromStored(WeightDtype::kF32, 2, 32, bytes, stored,
                                       WeightDtype::kF32, "w");
  EXPECT_EQ(explicit_f32->data(), bytes);
  for (WeightDtype to :
       {WeightDtype::kF16, WeightDtype::kBF16, WeightDtype::kQ8_0}) {
    auto converted =
        TensorFromStored(WeightDtype::kF32, 2, 32, bytes, stored, to, "w");
    ASSERT_TRUE(converted.ok()) << converted.status();
    EXPECT_EQ(converted->dtype(), to);
    EXPECT_FALSE(converted->is_view());
    auto direct = Tensor::FromFloat(values, 2, 32, to, "w");
    EXPECT_EQ(converted->ToFloat(), direct->ToFloat());
  }
  // Widening bf16 to f32 is exact.
  auto bits = MappedCopy(
      std::vector<uint16_t>{FloatToBFloat16(0.75f), FloatToBFloat16(-3.0f)},
      "bf16.bin");
  auto wide = TensorFromStored(WeightDtype::kBF16, 1, 2, bits->data(), bits,
                               WeightDtype::kF32, "b");
  EXPECT_EQ(wide->ToFloat(), (std::vector<float>{0.75f, -3.0f}));
}

// Resident pages of this process (/proc/self/statm, second field).
int64_t ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  long size = 0, resident = 0;
  EXPECT_EQ(std::fscanf(f, "%ld %ld", &size, &resident), 2);
  std::fclose(f);
  return int64_t{resident} * ::sysconf(_SC_PAGESIZE);
}

// DropMappedPages takes a mapped view's pages out of the resident set and
// the values stay readable (read again from the file); an owned tensor's
// bytes are left alone.
TEST(TensorTest, DropMappedPagesReleasesAViewsPagesOnly) {
  constexpr int64_t kRows = 1024, kCols = 8192;  // 32 MiB of fp32
  std::vector<float> values(kRows * kCols);
  for (int64_t i = 0; i < kRows * kCols; ++i) values[i] = i % 977 * 0.5f;
  auto file = MappedCopy(values, "big.bin");
  Tensor view =
      Tensor::MappedView(WeightDtype::kF32, kRows, kCols, file->data(), file);
  const int64_t before = ResidentBytes();
  double sum = 0.0;
  for (int64_t i = 0; i < kRows * kCols; i += 1024) sum += view.f32()[i];
  const int64_t touched = ResidentBytes();
  EXPECT_GT(touched - before, 24 << 20) << "reading the view maps its pages";
  view.DropMappedPages();
  EXPECT_GT(touched - ResidentBytes(), 24 << 20);
  double again = 0.0;
  for (int64_t i = 0; i < kRows * kCols; i += 1024) again += view.f32()[i];
  EXPECT_EQ(again, sum);

  Tensor owned = Tensor::FromF32(values, kRows, kCols);
  owned.DropMappedPages();
  EXPECT_EQ(owned.ToFloat(), values);
}

}  // namespace
}  // namespace headroom::runtime
