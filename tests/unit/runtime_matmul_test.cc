// cpu::MatMul: correct against a double-precision reference on random and
// odd shapes, and batch invariant (a row of C has the same bits whatever
// else is in A, wherever it sits, and however many threads run), for every
// ISA's kernels this CPU can run.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/cpu/matmul.h"

namespace headroom::runtime::cpu {
namespace {

std::vector<float> Random(int64_t count, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

WeightMatrix F32(const std::vector<float>& w, int k) {
  return {WeightDtype::kF32, w.data(), int64_t{4} * k};
}

// The kernels of each ISA this CPU runs.
std::vector<MatMulKernels> RunnableKernels() {
  std::vector<MatMulKernels> out = {PortableMatMulKernels()};
  for (MatMulKernels k : {Avx2MatMulKernels(), Avx512MatMulKernels()}) {
    if (k.run != nullptr) out.push_back(k);
  }
  return out;
}

struct Shape {
  int m, n, k;
};

// Odd sizes around every tile and vector width, plus model-like ones.
std::vector<Shape> Shapes() {
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
  return s;
}

TEST(MatMulTest, MatchesADoubleReferenceWithinTheFp32SumBound) {
  std::mt19937 rng(1);
  for (const MatMulKernels& kernels : RunnableKernels()) {
    for (const Shape& s : Shapes()) {
      const std::vector<float> a = Random(int64_t{s.m} * s.k, rng);
      const std::vector<float> w = Random(int64_t{s.n} * s.k, rng);
      std::vector<float> c(int64_t{s.m} * s.n, 0.5f);
      kernels.run(s.m, 0, s.n, s.k, a.data(), s.k, F32(w, s.k), c.data(), s.n,
                  /*accumulate=*/true);
      for (int i = 0; i < s.m; ++i) {
        for (int j = 0; j < s.n; ++j) {
          double ref = 0.0, magnitude = 0.0;
          for (int p = 0; p < s.k; ++p) {
            const double t = double{a[i * s.k + p]} * w[j * s.k + p];
            ref += t;
            magnitude += std::fabs(t);
          }
          // A float sum of k products, each rounded once (fused), then one
          // addition to C: |error| <= (k + 1) * eps * (sum|terms| + |C|).
          const double bound = (s.k + 1) * double{FLT_EPSILON} *
                               (magnitude + 0.5 + std::fabs(ref));
          EXPECT_NEAR(c[i * s.n + j], ref + 0.5, bound)
              << kernels.name << " m=" << s.m << " n=" << s.n << " k=" << s.k
              << " at (" << i << ", " << j << ")";
        }
      }
    }
  }
}

TEST(MatMulTest, EachRowHasTheSameBitsAloneInAnyBatchAndAnyThreads) {
  std::mt19937 rng(2);
  ThreadPool one(1), two(2), three(3);
  for (const Shape& s : Shapes()) {
    const std::vector<float> a = Random(int64_t{s.m} * s.k, rng);
    const std::vector<float> w = Random(int64_t{s.n} * s.k, rng);
    std::vector<float> whole(int64_t{s.m} * s.n);
    MatMul(one, s.m, s.n, s.k, a.data(), s.k, w.data(), s.k, whole.data(), s.n);
    // Each row alone, and sub-batches at random offsets, on 1-3 threads.
    for (ThreadPool* pool : {&one, &two, &three}) {
      for (int i = 0; i < s.m; ++i) {
        std::vector<float> row(s.n);
        MatMul(*pool, 1, s.n, s.k, a.data() + int64_t{i} * s.k, s.k, w.data(),
               s.k, row.data(), s.n);
        ASSERT_EQ(std::memcmp(row.data(), whole.data() + int64_t{i} * s.n,
                              s.n * sizeof(float)),
                  0)
            << MatMulIsa() << " row " << i << " of m=" << s.m << " n=" << s.n
            << " k=" << s.k << " threads " << pool->num_threads();
      }
      const int first = static_cast<int>(rng() % s.m);
      const int count = 1 + static_cast<int>(rng() % (s.m - first));
      std::vector<float> part(int64_t{count} * s.n);
      MatMul(*pool, count, s.n, s.k, a.data() + int64_t{first} * s.k, s.k,
             w.data(), s.k, part.data(), s.n);
      ASSERT_EQ(std::memcmp(part.data(), whole.data() + int64_t{first} * s.n,
                            part.size() * sizeof(float)),
                0)
          << "rows " << first << ".." << first + count << " of m=" << s.m;
    }
  }
}

TEST(MatMulTest, EveryIsaIsBatchInvariantOnItsOwn) {
  std::mt19937 rng(3);
  for (const MatMulKernels& kernels : RunnableKernels()) {
    const Shape s{23, 77, 211};
    const std::vector<float> a = Random(int64_t{s.m} * s.k, rng);
    const std::vector<float> w = Random(int64_t{s.n} * s.k, rng);
    std::vector<float> whole(int64_t{s.m} * s.n);
    kernels.run(s.m, 0, s.n, s.k, a.data(), s.k, F32(w, s.k), whole.data(), s.n,
                false);
    for (int i = 0; i < s.m; ++i) {
      std::vector<float> row(s.n);
      // Split the weight rows too: 0..30 and 30..77.
      kernels.run(1, 0, 30, s.k, a.data() + int64_t{i} * s.k, s.k, F32(w, s.k),
                  row.data(), s.n, false);
      kernels.run(1, 30, s.n, s.k, a.data() + int64_t{i} * s.k, s.k,
                  F32(w, s.k), row.data(), s.n, false);
      ASSERT_EQ(std::memcmp(row.data(), whole.data() + int64_t{i} * s.n,
                            s.n * sizeof(float)),
                0)
          << kernels.name << " row " << i;
    }
  }
}

TEST(MatMulTest, ProcessUsesTheWidestIsaTheCpuHas) {
  const std::string isa = MatMulIsa();
  if (Avx512MatMulKernels().run != nullptr) {
    EXPECT_EQ(isa, "avx512");
  } else if (Avx2MatMulKernels().run != nullptr) {
    EXPECT_EQ(isa, "avx2");
  } else {
    EXPECT_EQ(isa, "portable");
  }
}

}  // namespace
}  // namespace headroom::runtime::cpu

namespace headroom::runtime::cpu {
namespace {

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

// Typed weights convert exactly inside the kernels: the product has the
// same bits as the fp32 kernels over the dequantized values, for every
// ISA, with odd k (tails) for the 16-bit types and k % 32 == 0 for q8_0.
TEST(MatMulTest, TypedWeightsGiveTheBitsOfTheirFp32Values) {
  std::mt19937 rng(4);
  for (const MatMulKernels& kernels : RunnableKernels()) {
    for (WeightDtype dtype : {WeightDtype::kF32, WeightDtype::kBF16,
                              WeightDtype::kF16, WeightDtype::kQ8_0}) {
      for (const Shape& s0 : Shapes()) {
        Shape s = s0;
        if (dtype == WeightDtype::kQ8_0) s.k = (s.k + 31) / 32 * 32;
        const std::vector<float> a = Random(int64_t{s.m} * s.k, rng);
        const std::vector<uint8_t> stored =
            Stored(dtype, Random(int64_t{s.n} * s.k, rng));
        const std::vector<float> values = Dequantized(dtype, stored, s.n, s.k);
        WeightMatrix w;
        w.dtype = dtype;
        w.data = stored.data();
        w.row_bytes = *WeightRowBytes(dtype, s.k);
        WeightMatrix f32{WeightDtype::kF32, values.data(), int64_t{4} * s.k};
        std::vector<float> typed(int64_t{s.m} * s.n), reference(typed.size());
        kernels.run(s.m, 0, s.n, s.k, a.data(), s.k, w, typed.data(), s.n,
                    false);
        kernels.run(s.m, 0, s.n, s.k, a.data(), s.k, f32, reference.data(), s.n,
                    false);
        ASSERT_EQ(std::memcmp(typed.data(), reference.data(),
                              typed.size() * sizeof(float)),
                  0)
            << kernels.name << " " << WeightDtypeName(dtype) << " m=" << s.m
            << " n=" << s.n << " k=" << s.k;
      }
    }
  }
}

}  // namespace
}  // namespace headroom::runtime::cpu
