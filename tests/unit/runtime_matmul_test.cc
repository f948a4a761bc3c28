// cpu::MatMul: each ISA's kernels, for every weight dtype, against a
// double-precision reference on random and odd shapes (within a bound
// derived from the dtype's rounding), and batch invariant (a row of C has
// the same bits whatever else is in A, wherever it sits, however W's rows
// are split and however many threads run).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "runtime/cpu/matmul.h"
#include "tests/test_support.h"

namespace headroom::runtime::cpu {
namespace {

using ::headroom::testing::NormalValues;

constexpr WeightDtype kDtypes[] = {WeightDtype::kF32, WeightDtype::kBF16,
                                   WeightDtype::kF16, WeightDtype::kQ8_0};

// The kernels of each ISA this CPU runs.
std::vector<MatMulKernels> RunnableKernels() {
  std::vector<MatMulKernels> out = {PortableMatMulKernels()};
  for (MatMulKernels k : {Avx2MatMulKernels(), Avx512MatMulKernels(),
                          Avx512VnniBf16MatMulKernels()}) {
    if (k.run != nullptr) out.push_back(k);
  }
  return out;
}

struct Shape {
  int m, n, k;
};

// Odd sizes around every tile and vector width, plus model-like ones; k a
// multiple of 32 for q8_0.
std::vector<Shape> Shapes(WeightDtype dtype = WeightDtype::kF32) {
  std::vector<Shape> s = {{1, 1, 1},     {1, 7, 3},     {2, 5, 17},
                          {3, 13, 31},   {4, 8, 16},    {5, 9, 33},
                          {7, 70, 129},  {1, 512, 128}, {9, 256, 128},
                          {16, 96, 300}, {37, 41, 64},  {64, 128, 256}};
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    s.push_back({1 + static_cast<int>(rng() % 40),
                 1 + static_cast<int>(rng() % 90),
                 1 + static_cast<int>(rng() % 300)});
  }
  if (dtype == WeightDtype::kQ8_0) {
    for (Shape& x : s) x.k = (x.k + 31) / 32 * 32;
  }
  return s;
}

// The fp32 values a typed matrix stands for, by the scalar definitions.
std::vector<float> Dequantized(WeightDtype dtype, const std::vector<uint8_t>& w,
                               int n, int k) {
  std::vector<float> out(int64_t{n} * k);
  for (int64_t i = 0; i < int64_t{n} * k; ++i) {
    uint16_t h;
    switch (dtype) {
      case WeightDtype::kF32:
        std::memcpy(&out[i], w.data() + 4 * i, 4);
        break;
      case WeightDtype::kBF16:
        std::memcpy(&h, w.data() + 2 * i, 2);
        out[i] = BFloat16ToFloat(h);
        break;
      case WeightDtype::kF16:
        std::memcpy(&h, w.data() + 2 * i, 2);
        out[i] = HalfToFloat(h);
        break;
      case WeightDtype::kQ8_0: {
        const auto* blocks = reinterpret_cast<const Q8_0Block*>(w.data());
        out[i] = Q8_0Weight(blocks[i / kQ8_0BlockSize], i % kQ8_0BlockSize);
        break;
      }
    }
  }
  return out;
}

// `values` ([n][k]) stored as `dtype`.
std::vector<uint8_t> Stored(WeightDtype dtype,
                            const std::vector<float>& values) {
  std::vector<uint8_t> out;
  if (dtype == WeightDtype::kQ8_0) {
    auto blocks = QuantizeQ8_0(values, "w");
    EXPECT_TRUE(blocks.ok()) << blocks.status();
    out.resize(blocks->size() * sizeof(Q8_0Block));
    std::memcpy(out.data(), blocks->data(), out.size());
    return out;
  }
  const int bytes = dtype == WeightDtype::kF32 ? 4 : 2;
  out.resize(values.size() * bytes);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == WeightDtype::kF32) {
      std::memcpy(out.data() + 4 * i, &values[i], 4);
    } else {
      const uint16_t h = dtype == WeightDtype::kBF16
                             ? FloatToBFloat16(values[i])
                             : FloatToHalf(values[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

// A random n x k weight matrix stored as `dtype`, and its fp32 values.
struct TypedWeights {
  std::vector<uint8_t> stored;
  std::vector<float> values;
  WeightMatrix matrix;
};
TypedWeights RandomWeights(WeightDtype dtype, int n, int k, std::mt19937& rng) {
  TypedWeights t;
  t.stored = Stored(dtype, NormalValues(int64_t{n} * k, rng));
  t.values = Dequantized(dtype, t.stored, n, k);
  t.matrix.dtype = dtype;
  t.matrix.data = t.stored.data();
  t.matrix.row_bytes = *WeightRowBytes(dtype, k);
  return t;
}

// Rows [first, first + count) of W.
WeightMatrix RowsOf(const WeightMatrix& w, int first) {
  WeightMatrix out = w;
  out.data = static_cast<const uint8_t*>(w.data) + int64_t{first} * w.row_bytes;
  return out;
}

// The bound on |C - exact| for one output (exact: the double sum of
// a * w over the weights' fp32 values, plus C), from the rounding of the
// form A takes (matmul.h):
//   kF32:  a float sum of k products, each rounded once (fused), then one
//          addition to C: (k + 1) * eps * (sum|a w| + |C| + |exact|).
//   kBf16: each a rounded to bf16 first, |a - bf16(a)| <= 2^-8 |a| (8
//          significant bits); the products are then exact and summed in
//          fp32 as above: 2^-8 * sum|a w| plus the fp32 bound.
//   kQ8:   per block, d = max|a| / 127 and |a - d q| <= d (1/2 + 2^-16)
//          (q rounds a * fl(1 / d), within two float roundings of a / d,
//          |a / d| <= 127); the integer dots are exact, each block's scale
//          dw * d is rounded once and the block sums once more in fp32:
//          sum over blocks of 0.51 d sum|w|, plus the fp32 bound with
//          k + 1 for k (blocks plus the scale rounding) over the terms.
double Bound(ActivationForm form, const float* a, const float* w, int k,
             double c, double exact) {
  double magnitude = 0.0;
  for (int p = 0; p < k; ++p) magnitude += std::fabs(double{a[p]} * w[p]);
  double from_a = 0.0;
  if (form == ActivationForm::kBf16) from_a = std::ldexp(magnitude, -8);
  if (form == ActivationForm::kQ8) {
    for (int b = 0; b < k; b += 32) {
      double amax = 0.0, wsum = 0.0;
      for (int p = b; p < b + 32; ++p) {
        amax = std::fmax(amax, std::fabs(a[p]));
        wsum += std::fabs(w[p]);
      }
      from_a += 0.51 * (amax / 127.0) * wsum;
    }
  }
  return from_a + (k + 2) * double{FLT_EPSILON} *
                      (magnitude + from_a + std::fabs(c) + std::fabs(exact));
}

TEST(MatMulTest, EveryIsaAndDtypeMatchesADoubleReferenceWithinItsBound) {
  std::mt19937 rng(1);
  for (const MatMulKernels& kernels : RunnableKernels()) {
    for (WeightDtype dtype : kDtypes) {
      const ActivationForm form = kernels.form(dtype);
      for (const Shape& s : Shapes(dtype)) {
        const std::vector<float> a = NormalValues(int64_t{s.m} * s.k, rng);
        const TypedWeights w = RandomWeights(dtype, s.n, s.k, rng);
        std::vector<float> c(int64_t{s.m} * s.n, 0.5f);
        RunKernels(kernels, s.m, s.n, s.k, a.data(), s.k, w.matrix, c.data(),
                   s.n, /*accumulate=*/true);
        for (int i = 0; i < s.m; ++i) {
          for (int j = 0; j < s.n; ++j) {
            const float* ai = a.data() + int64_t{i} * s.k;
            const float* wj = w.values.data() + int64_t{j} * s.k;
            double exact = 0.5;
            for (int p = 0; p < s.k; ++p) exact += double{ai[p]} * wj[p];
            EXPECT_NEAR(c[i * s.n + j], exact,
                        Bound(form, ai, wj, s.k, 0.5, exact))
                << kernels.name << " " << WeightDtypeName(dtype) << " m=" << s.m
                << " n=" << s.n << " k=" << s.k << " at (" << i << ", " << j
                << ")";
          }
        }
      }
    }
  }
}

// A row of C alone against its row in the whole batch, a sub-batch at a
// random offset, and W's rows split in two: the same bytes, for `run`.
template <class Run>
void ExpectBatchInvariant(const Shape& s, const std::vector<float>& a,
                          const WeightMatrix& w, std::mt19937& rng, Run run,
                          const std::string& what) {
  std::vector<float> whole(int64_t{s.m} * s.n);
  run(s.m, s.n, a.data(), w, whole.data());
  const int split = static_cast<int>(rng() % s.n);
  for (int i = 0; i < s.m; ++i) {
    std::vector<float> row(s.n);
    const float* ai = a.data() + int64_t{i} * s.k;
    run(1, split, ai, w, row.data());
    run(1, s.n - split, ai, RowsOf(w, split), row.data() + split);
    ASSERT_EQ(std::memcmp(row.data(), whole.data() + int64_t{i} * s.n,
                          s.n * sizeof(float)),
              0)
        << what << " row " << i << " of m=" << s.m << " n=" << s.n
        << " k=" << s.k << " (W split at " << split << ")";
  }
  const int first = static_cast<int>(rng() % s.m);
  const int count = 1 + static_cast<int>(rng() % (s.m - first));
  std::vector<float> part(int64_t{count} * s.n);
  run(count, s.n, a.data() + int64_t{first} * s.k, w, part.data());
  ASSERT_EQ(std::memcmp(part.data(), whole.data() + int64_t{first} * s.n,
                        part.size() * sizeof(float)),
            0)
      << what << " rows " << first << ".." << first + count << " of m=" << s.m;
}

TEST(MatMulTest, EveryIsaIsBatchInvariantOnItsOwnForEveryDtype) {
  std::mt19937 rng(3);
  for (const MatMulKernels& kernels : RunnableKernels()) {
    for (WeightDtype dtype : kDtypes) {
      for (const Shape& s : Shapes(dtype)) {
        const std::vector<float> a = NormalValues(int64_t{s.m} * s.k, rng);
        const TypedWeights w = RandomWeights(dtype, s.n, s.k, rng);
        ExpectBatchInvariant(
            s, a, w.matrix, rng,
            [&](int m, int n, const float* x, const WeightMatrix& wm,
                float* c) {
              RunKernels(kernels, m, n, s.k, x, s.k, wm, c, s.n, false);
            },
            std::string(kernels.name) + " " + WeightDtypeName(dtype));
      }
    }
  }
}

TEST(MatMulTest, EachRowHasTheSameBitsAloneInAnyBatchAndAnyThreads) {
  std::mt19937 rng(2);
  ThreadPool one(1), two(2), three(3);
  for (WeightDtype dtype : kDtypes) {
    for (const Shape& s : Shapes(dtype)) {
      const std::vector<float> a = NormalValues(int64_t{s.m} * s.k, rng);
      const TypedWeights w = RandomWeights(dtype, s.n, s.k, rng);
      std::vector<float> reference(int64_t{s.m} * s.n);
      MatMul(one, s.m, s.n, s.k, a.data(), s.k, w.matrix, reference.data(),
             s.n);
      for (ThreadPool* pool : {&one, &two, &three}) {
        ExpectBatchInvariant(
            s, a, w.matrix, rng,
            [&](int m, int n, const float* x, const WeightMatrix& wm,
                float* c) { MatMul(*pool, m, n, s.k, x, s.k, wm, c, s.n); },
            std::string(MatMulIsa()) + " " + WeightDtypeName(dtype) +
                " threads " + std::to_string(pool->num_threads()));
        std::vector<float> c(reference.size());
        MatMul(*pool, s.m, s.n, s.k, a.data(), s.k, w.matrix, c.data(), s.n);
        ASSERT_EQ(
            std::memcmp(c.data(), reference.data(), c.size() * sizeof(float)),
            0)
            << "threads " << pool->num_threads();
      }
    }
  }
}

// Where a kernel multiplies fp32 A, typed weights convert exactly: the
// product has the bits of the same kernels over the dequantized fp32
// values, for every ISA, with odd k (tails).
TEST(MatMulTest, TypedWeightsOverFp32AGiveTheBitsOfTheirFp32Values) {
  std::mt19937 rng(4);
  for (const MatMulKernels& kernels : RunnableKernels()) {
    for (WeightDtype dtype : kDtypes) {
      if (kernels.form(dtype) != ActivationForm::kF32) continue;
      for (const Shape& s : Shapes(dtype)) {
        const std::vector<float> a = NormalValues(int64_t{s.m} * s.k, rng);
        const TypedWeights w = RandomWeights(dtype, s.n, s.k, rng);
        const WeightMatrix f32{WeightDtype::kF32, w.values.data(),
                               int64_t{4} * s.k};
        std::vector<float> typed(int64_t{s.m} * s.n), reference(typed.size());
        RunKernels(kernels, s.m, s.n, s.k, a.data(), s.k, w.matrix,
                   typed.data(), s.n, false);
        RunKernels(kernels, s.m, s.n, s.k, a.data(), s.k, f32, reference.data(),
                   s.n, false);
        ASSERT_EQ(std::memcmp(typed.data(), reference.data(),
                              typed.size() * sizeof(float)),
                  0)
            << kernels.name << " " << WeightDtypeName(dtype) << " m=" << s.m
            << " n=" << s.n << " k=" << s.k;
      }
    }
  }
}

// The q8 integer dots are exact and AVX2 and AVX-512 VNNI share the float
// steps (matmul_q8_tiles.h): the same bits on both.
TEST(MatMulTest, Q8GivesTheSameBitsWithAndWithoutVnni) {
  const MatMulKernels avx2 = Avx2MatMulKernels();
  const MatMulKernels vnni = Avx512VnniBf16MatMulKernels();
  if (avx2.run == nullptr || vnni.run == nullptr) {
    GTEST_SKIP() << "needs AVX2 and AVX-512 VNNI";
  }
  std::mt19937 rng(5);
  for (const Shape& s : Shapes(WeightDtype::kQ8_0)) {
    const std::vector<float> a = NormalValues(int64_t{s.m} * s.k, rng);
    const TypedWeights w = RandomWeights(WeightDtype::kQ8_0, s.n, s.k, rng);
    std::vector<float> x(int64_t{s.m} * s.n), y(x.size());
    RunKernels(avx2, s.m, s.n, s.k, a.data(), s.k, w.matrix, x.data(), s.n,
               false);
    RunKernels(vnni, s.m, s.n, s.k, a.data(), s.k, w.matrix, y.data(), s.n,
               false);
    ASSERT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0)
        << "m=" << s.m << " n=" << s.n << " k=" << s.k;
  }
}

// NaN or infinity in A gives NaN (or infinity) where fp32 would, whatever
// form A takes: a packed block does not hide it.
TEST(MatMulTest, NonFiniteActivationsReachTheOutputInEveryForm) {
  std::mt19937 rng(6);
  const int n = 5, k = 64;
  for (const MatMulKernels& kernels : RunnableKernels()) {
    for (WeightDtype dtype : kDtypes) {
      for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                        std::numeric_limits<float>::infinity()}) {
        std::vector<float> a = NormalValues(k, rng);
        a[37] = bad;
        const TypedWeights w = RandomWeights(dtype, n, k, rng);
        std::vector<float> c(n);
        RunKernels(kernels, 1, n, k, a.data(), k, w.matrix, c.data(), n, false);
        for (int j = 0; j < n; ++j) {
          EXPECT_FALSE(std::isfinite(c[j]))
              << kernels.name << " " << WeightDtypeName(dtype) << " " << bad
              << " -> " << c[j];
        }
      }
    }
  }
}

TEST(MatMulTest, ProcessUsesTheWidestIsaTheCpuHas) {
  const std::string isa = MatMulIsa();
  if (Avx512VnniBf16MatMulKernels().run != nullptr) {
    EXPECT_EQ(isa, "avx512-vnni-bf16");
  } else if (Avx512MatMulKernels().run != nullptr) {
    EXPECT_EQ(isa, "avx512");
  } else if (Avx2MatMulKernels().run != nullptr) {
    EXPECT_EQ(isa, "avx2");
  } else {
    EXPECT_EQ(isa, "portable");
  }
}

// PackActivations against the definitions in matmul.h, on random and
// adversarial blocks.
Q8ActivationBlock PackQ8(const std::vector<float>& block) {
  Q8ActivationBlock out;
  PackActivations(ActivationForm::kQ8, 1, 32, block.data(), 32,
                  reinterpret_cast<uint8_t*>(&out));
  return out;
}

TEST(PackActivationsTest, Q8BlocksFollowTheirDefinition) {
  std::mt19937 rng(8);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> x = NormalValues(32, rng);
    if (trial % 4 == 1) x[trial % 32] = 1e6f;     // one huge value
    if (trial % 4 == 2) x[trial % 32] *= 1e-30f;  // a tiny one among normal
    const Q8ActivationBlock b = PackQ8(x);
    float amax = 0.0f;
    for (float v : x) amax = std::fmax(amax, std::fabs(v));
    const float d = amax / 127.0f;
    ASSERT_EQ(b.scale, d);
    for (int t = 0; t < 32; ++t) {
      ASSERT_EQ(b.q[t], static_cast<int8_t>(std::nearbyint(x[t] * (1.0f / d))))
          << "trial " << trial << " at " << t;
    }
  }
}

TEST(PackActivationsTest, Q8ZerosSubnormalsAndNonFiniteBlocks) {
  const Q8ActivationBlock zeros = PackQ8(std::vector<float>(32, 0.0f));
  EXPECT_EQ(zeros.scale, 0.0f);
  // max|x| / 127 so small that 1 / d overflows: the block counts as zeros.
  std::vector<float> tiny(32, 0.0f);
  tiny[3] = std::numeric_limits<float>::denorm_min() * 7;
  tiny[9] = -std::numeric_limits<float>::denorm_min();
  const Q8ActivationBlock t = PackQ8(tiny);
  EXPECT_EQ(t.scale, 0.0f);
  // A subnormal scale that still inverts quantizes normally, and a
  // subnormal value beside a larger one rounds to 0.
  std::vector<float> small(32, 0.0f);
  small[0] = 1e-36f;  // d = 7.9e-39, subnormal; 1 / d = 1.3e38, finite
  small[1] = -0.5e-36f;
  small[2] = FLT_MIN / 4;
  const Q8ActivationBlock s = PackQ8(small);
  EXPECT_EQ(s.scale, small[0] / 127.0f);
  EXPECT_EQ(s.q[0], 127);
  EXPECT_NEAR(s.q[1], -64, 1);
  EXPECT_EQ(s.q[2], 0);
  for (const Q8ActivationBlock& b : {zeros, t}) {
    for (int8_t q : b.q) EXPECT_EQ(q, 0);
  }
  std::vector<float> nan(32, 1.0f);
  nan[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(PackQ8(nan).scale));
  std::vector<float> inf(32, 1.0f);
  inf[31] = -std::numeric_limits<float>::infinity();
  EXPECT_TRUE(std::isnan(PackQ8(inf).scale));
}

TEST(PackActivationsTest, Bf16RowsRoundToNearestEvenAndPadWithZeros) {
  std::mt19937 rng(9);
  const int k = 45;
  const std::vector<float> a = NormalValues(2 * k, rng);
  ASSERT_EQ(PackedRowBytes(ActivationForm::kBf16, k), 2 * 64);
  std::vector<uint16_t> out(2 * 64, 0xFFFF);
  PackActivations(ActivationForm::kBf16, 2, k, a.data(), k,
                  reinterpret_cast<uint8_t*>(out.data()));
  for (int i = 0; i < 2; ++i) {
    for (int p = 0; p < 64; ++p) {
      const uint16_t want = p < k ? FloatToBFloat16(a[i * k + p]) : 0;
      ASSERT_EQ(out[i * 64 + p], want) << i << " " << p;
    }
  }
}

}  // namespace
}  // namespace headroom::runtime::cpu
