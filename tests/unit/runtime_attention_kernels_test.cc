// The CPU attention kernels (runtime/cpu/attention_kernels.h): each ISA's
// scores and weighted sums against a double-precision reference on random
// and odd shapes (within the fp32 summation bound), and batch invariant:
// a score or an output has the same bits whether its head is computed alone
// or beside others, and however the positions are split into runs (pages).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/cpu/attention_kernels.h"
#include "tests/test_support.h"

namespace headroom::runtime::cpu {
namespace {

using ::headroom::testing::NormalValues;

// The kernels of each ISA this CPU runs.
std::vector<AttentionKernels> RunnableKernels() {
  std::vector<AttentionKernels> out = {PortableAttentionKernels()};
  for (AttentionKernels k :
       {Avx2AttentionKernels(), Avx512AttentionKernels()}) {
    if (k.scores != nullptr) out.push_back(k);
  }
  return out;
}

// heads cache heads, group query rows each, count positions, head size d;
// cache rows hold `row_heads` >= heads heads, so a row is wider than what
// is read (as when an item takes part of a row).
struct Shape {
  int heads, group, count, d, row_heads;
  int rows() const { return heads * group; }                 // query rows
  int64_t stride() const { return int64_t{row_heads} * d; }  // floats a row
};

std::string Describe(const AttentionKernels& k, const Shape& s) {
  return absl::StrCat(k.name, " heads ", s.heads, " group ", s.group, " count ",
                      s.count, " d ", s.d);
}

// GQA groups 1..8, head sizes 8..256 and odd ones around the vector widths
// (8 and 16 lanes), runs of 1..17 positions (a page is 16), plus random.
std::vector<Shape> Shapes() {
  std::vector<Shape> s = {{1, 1, 1, 8, 1},   {1, 1, 16, 64, 4},
                          {2, 4, 7, 128, 3}, {1, 8, 17, 256, 1},
                          {3, 2, 5, 24, 5},  {4, 1, 16, 64, 16},
                          {1, 3, 9, 100, 2}, {2, 5, 3, 17, 2},
                          {1, 1, 13, 7, 1},  {5, 1, 4, 33, 6}};
  std::mt19937 rng(3);
  for (int i = 0; i < 30; ++i) {
    const int heads = 1 + static_cast<int>(rng() % 4);
    s.push_back({heads, 1 + static_cast<int>(rng() % 8),
                 1 + static_cast<int>(rng() % 17),
                 1 + static_cast<int>(rng() % 256),
                 heads + static_cast<int>(rng() % 3)});
  }
  return s;
}

// |fp32 sum of n products - exact| <= (n + 1) eps (sum|terms| + |start|)
// to first order, the standard bound for a sum in any order with fused or
// unfused products; (n + 2) covers the second-order terms.
double SumBound(int n, double magnitude, double start) {
  return (n + 2) * double{FLT_EPSILON} * (magnitude + std::fabs(start));
}

TEST(AttentionKernelsTest, ScoresMatchADoubleReferenceOnEveryIsa) {
  std::mt19937 rng(1);
  for (const AttentionKernels& k : RunnableKernels()) {
    for (const Shape& s : Shapes()) {
      SCOPED_TRACE(Describe(k, s));
      const int rows = s.rows();
      const int64_t stride = s.stride();
      const int64_t ld = s.count + 3;
      const std::vector<float> q = NormalValues(int64_t{rows} * s.d, rng);
      const std::vector<float> keys = NormalValues(s.count * stride, rng);
      std::vector<float> scores(rows * ld, -7.0f);
      k.scores(s.heads, s.group, s.count, s.d, q.data(), keys.data(), stride,
               scores.data(), ld);
      for (int u = 0; u < rows; ++u) {
        const float* key_head = keys.data() + int64_t{u / s.group} * s.d;
        for (int r = 0; r < s.count; ++r) {
          double exact = 0.0, magnitude = 0.0;
          for (int i = 0; i < s.d; ++i) {
            const double term =
                double{q[u * s.d + i]} * key_head[r * stride + i];
            exact += term;
            magnitude += std::fabs(term);
          }
          ASSERT_NEAR(scores[u * ld + r], exact, SumBound(s.d, magnitude, 0.0))
              << "row " << u << " position " << r;
        }
        // Nothing outside the count is written.
        for (int64_t r = s.count; r < ld; ++r) {
          ASSERT_EQ(scores[u * ld + r], -7.0f);
        }
      }
    }
  }
}

TEST(AttentionKernelsTest, WeightedSumsMatchADoubleReferenceOnEveryIsa) {
  std::mt19937 rng(2);
  for (const AttentionKernels& k : RunnableKernels()) {
    for (const Shape& s : Shapes()) {
      SCOPED_TRACE(Describe(k, s));
      const int rows = s.rows();
      const int64_t stride = s.stride();
      const int64_t ld = s.count + 2;
      const std::vector<float> p = NormalValues(rows * ld, rng);
      const std::vector<float> values = NormalValues(s.count * stride, rng);
      // out starts nonzero: the kernel adds to it. One spare value past
      // the end checks that nothing beyond rows * d is written.
      std::vector<float> out = NormalValues(int64_t{rows} * s.d + 1, rng);
      const std::vector<float> start = out;
      k.weighted_sum(s.heads, s.group, s.count, s.d, p.data(), ld,
                     values.data(), stride, out.data());
      for (int u = 0; u < rows; ++u) {
        const float* value_head = values.data() + int64_t{u / s.group} * s.d;
        for (int i = 0; i < s.d; ++i) {
          const double begin = start[u * s.d + i];
          double exact = begin, magnitude = 0.0;
          for (int r = 0; r < s.count; ++r) {
            const double term =
                double{p[u * ld + r]} * value_head[r * stride + i];
            exact += term;
            magnitude += std::fabs(term);
          }
          ASSERT_NEAR(out[u * s.d + i], exact,
                      SumBound(s.count, magnitude, begin))
              << "row " << u << " element " << i;
        }
      }
      ASSERT_EQ(out.back(), start.back());
    }
  }
}

// The invariance the CPU attention relies on: a head's scores and outputs
// have the same bits computed with the other heads or alone, and the
// weighted sum over positions split into runs (pages of any size) equals
// the sum over them all at once.
TEST(AttentionKernelsTest, BitsDoNotDependOnHeadsPerCallOrOnThePositionSplit) {
  std::mt19937 rng(4);
  for (const AttentionKernels& k : RunnableKernels()) {
    for (const Shape& s : Shapes()) {
      SCOPED_TRACE(Describe(k, s));
      const int rows = s.rows();
      const int64_t stride = s.stride();
      const int64_t ld = s.count;
      const std::vector<float> q = NormalValues(int64_t{rows} * s.d, rng);
      const std::vector<float> kv = NormalValues(s.count * stride, rng);
      const std::vector<float> p = NormalValues(rows * ld, rng);

      std::vector<float> scores_all(rows * ld), scores_each(rows * ld);
      k.scores(s.heads, s.group, s.count, s.d, q.data(), kv.data(), stride,
               scores_all.data(), ld);
      std::vector<float> out_all(int64_t{rows} * s.d, 0.0f);
      k.weighted_sum(s.heads, s.group, s.count, s.d, p.data(), ld, kv.data(),
                     stride, out_all.data());

      // Each head alone; positions in runs of 1, 2, 3, ... (a new split at
      // every run, as pages and prefill chunks would cut them).
      std::vector<float> out_each(int64_t{rows} * s.d, 0.0f);
      for (int c = 0; c < s.heads; ++c) {
        const int64_t u = int64_t{c} * s.group;
        int run = 1;
        for (int r = 0; r < s.count; r += run, ++run) {
          const int n = std::min(run, s.count - r);
          k.scores(1, s.group, n, s.d, q.data() + u * s.d,
                   kv.data() + r * stride + int64_t{c} * s.d, stride,
                   scores_each.data() + u * ld + r, ld);
          k.weighted_sum(1, s.group, n, s.d, p.data() + u * ld + r, ld,
                         kv.data() + r * stride + int64_t{c} * s.d, stride,
                         out_each.data() + u * s.d);
        }
      }
      ASSERT_EQ(std::memcmp(scores_all.data(), scores_each.data(),
                            scores_all.size() * sizeof(float)),
                0);
      ASSERT_EQ(std::memcmp(out_all.data(), out_each.data(),
                            out_all.size() * sizeof(float)),
                0);
    }
  }
}

TEST(AttentionKernelsTest, TheProcessUsesTheWidestIsaThisCpuRuns) {
  const AttentionKernels& chosen = ProcessAttentionKernels();
  ASSERT_NE(chosen.scores, nullptr);
  ASSERT_NE(chosen.weighted_sum, nullptr);
  EXPECT_STREQ(chosen.name, RunnableKernels().back().name);
}

}  // namespace
}  // namespace headroom::runtime::cpu
