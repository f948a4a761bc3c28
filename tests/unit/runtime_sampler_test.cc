// Sampling: parameter validation, penalties against hand-computed numbers,
// every filter's distribution against independent arithmetic, empirical
// frequencies of the counter-based draws against that distribution
// (chi-square and max deviation), reproducibility, greedy, and logprobs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/sampling/sampler.h"
#include "runtime/sampling/sampling_params.h"

namespace headroom::runtime {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Logits log(w) for the shuffled weights 1..10, so that the softmax is
// w / 55 and every filter's answer can be worked out by hand from w alone.
// The shuffle makes index order differ from probability order.
const std::vector<double> kWeights = {3, 7, 1, 10, 5, 2, 9, 4, 8, 6};

std::vector<float> LogWeights(const std::vector<double>& w) {
  std::vector<float> logits;
  for (double x : w) logits.push_back(static_cast<float>(std::log(x)));
  return logits;
}

// The distribution that keeps the tokens whose weight is in `kept` with
// probability proportional to `f(weight)`, zero elsewhere.
std::vector<double> Expected(const std::vector<double>& w,
                             const std::vector<double>& kept,
                             const std::function<double(double)>& f) {
  std::vector<double> p(w.size(), 0.0);
  double total = 0.0;
  for (double k : kept) total += f(k);
  for (size_t i = 0; i < w.size(); ++i) {
    if (std::find(kept.begin(), kept.end(), w[i]) != kept.end()) {
      p[i] = f(w[i]) / total;
    }
  }
  return p;
}

double Identity(double x) { return x; }

void ExpectNear(const std::vector<double>& actual,
                const std::vector<double>& expected, double tol = 1e-6) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], tol) << "token " << i;
  }
}

// Chi-square critical values at p = 0.001, indexed by degrees of freedom
// (standard statistical tables).
constexpr double kChiSquare001[] = {
    0,      10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322,
    26.124, 27.877, 29.588, 31.264, 32.909, 34.528, 36.123, 37.697};

// Draws 20,000 tokens (draw indices 0..19999, fixed seed) and compares their
// frequencies with FilteredDistribution: no filtered token is ever drawn, the
// chi-square statistic is below the p = 0.001 critical value, and no
// frequency is off by 0.015 or more.
void ExpectDrawsFollowDistribution(const std::vector<float>& logits,
                                   SamplingParams params,
                                   const PenaltyState& state = {}) {
  params.seed = 20240607;
  const std::vector<double> expected =
      FilteredDistribution(logits, params, state);
  ASSERT_EQ(expected.size(), logits.size());
  constexpr int kDraws = 20000;
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < kDraws; ++i) {
    const SampledToken t = SampleToken(logits, params, state, i);
    ASSERT_GE(t.token, 0);
    ASSERT_LT(t.token, static_cast<int>(logits.size()));
    ++counts[t.token];
  }
  double chi_square = 0.0;
  double max_deviation = 0.0;
  int kept = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (expected[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "filtered token " << i << " was drawn";
      continue;
    }
    ++kept;
    const double e = expected[i] * kDraws;
    chi_square += (counts[i] - e) * (counts[i] - e) / e;
    max_deviation = std::max(
        max_deviation, std::abs(counts[i] / double{kDraws} - expected[i]));
  }
  ASSERT_GE(kept, 1);
  ASSERT_LT(kept, static_cast<int>(std::size(kChiSquare001)) + 1);
  if (kept > 1) {
    EXPECT_LT(chi_square, kChiSquare001[kept - 1])
        << "degrees of freedom " << kept - 1;
  }
  EXPECT_LT(max_deviation, 0.015);
}

// ---------------------------------------------------------------------------
// ValidateSamplingParams

struct InvalidCase {
  const char* field;
  std::function<void(SamplingParams&)> mutate;
};

TEST(ValidateSamplingParamsTest, DefaultsAreValid) {
  EXPECT_TRUE(ValidateSamplingParams(SamplingParams{}, 512).ok());
}

TEST(ValidateSamplingParamsTest, RejectsEveryInvalidFieldByName) {
  const std::vector<InvalidCase> cases = {
      {"temperature", [](SamplingParams& p) { p.temperature = -1.0f; }},
      {"temperature", [](SamplingParams& p) { p.temperature = -1e-9f; }},
      {"temperature", [](SamplingParams& p) { p.temperature = kNaN; }},
      {"temperature", [](SamplingParams& p) { p.temperature = kInf; }},
      {"top_k", [](SamplingParams& p) { p.top_k = -1; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 0.0f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = -0.5f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 1.0001f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = kNaN; }},
      {"min_p", [](SamplingParams& p) { p.min_p = -0.01f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = 1.5f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = kNaN; }},
      {"repetition_penalty",
       [](SamplingParams& p) { p.repetition_penalty = 0.0f; }},
      {"repetition_penalty",
       [](SamplingParams& p) { p.repetition_penalty = -1.0f; }},
      {"repetition_penalty",
       [](SamplingParams& p) { p.repetition_penalty = kInf; }},
      {"repetition_penalty",
       [](SamplingParams& p) { p.repetition_penalty = kNaN; }},
      {"presence_penalty",
       [](SamplingParams& p) { p.presence_penalty = -2.01f; }},
      {"presence_penalty",
       [](SamplingParams& p) { p.presence_penalty = 2.5f; }},
      {"presence_penalty",
       [](SamplingParams& p) { p.presence_penalty = kNaN; }},
      {"frequency_penalty",
       [](SamplingParams& p) { p.frequency_penalty = -3.0f; }},
      {"frequency_penalty",
       [](SamplingParams& p) { p.frequency_penalty = 2.01f; }},
      {"frequency_penalty",
       [](SamplingParams& p) { p.frequency_penalty = kNaN; }},
      {"logprobs", [](SamplingParams& p) { p.logprobs = -1; }},
      {"logprobs", [](SamplingParams& p) { p.logprobs = 21; }},
  };
  for (const InvalidCase& c : cases) {
    SamplingParams params;
    c.mutate(params);
    const absl::Status status = ValidateSamplingParams(params, 512);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(status.message()), StartsWith(c.field));
  }
}

TEST(ValidateSamplingParamsTest, MessageShowsTheValue) {
  SamplingParams params;
  params.temperature = -1.0f;
  EXPECT_THAT(std::string(ValidateSamplingParams(params, 512).message()),
              HasSubstr("got -1"));
  params = SamplingParams{};
  params.logprobs = 50;
  EXPECT_THAT(std::string(ValidateSamplingParams(params, 512).message()),
              HasSubstr("got 50"));
}

TEST(ValidateSamplingParamsTest, RejectsEmptyVocabulary) {
  const absl::Status status = ValidateSamplingParams(SamplingParams{}, 0);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), StartsWith("vocab_size"));
}

TEST(ValidateSamplingParamsTest, AcceptsEdgeValues) {
  const std::vector<std::function<void(SamplingParams&)>> edges = {
      [](SamplingParams& p) { p.temperature = 0.0f; },
      [](SamplingParams& p) { p.temperature = 1e-6f; },
      [](SamplingParams& p) { p.temperature = 100.0f; },
      [](SamplingParams& p) { p.top_k = 0; },
      [](SamplingParams& p) { p.top_k = 1; },
      [](SamplingParams& p) { p.top_k = 1000000; },  // above vocab: clamped
      [](SamplingParams& p) { p.top_p = 1.0f; },
      [](SamplingParams& p) { p.top_p = 1e-6f; },
      [](SamplingParams& p) { p.min_p = 0.0f; },
      [](SamplingParams& p) { p.min_p = 1.0f; },
      [](SamplingParams& p) { p.repetition_penalty = 1e-3f; },
      [](SamplingParams& p) { p.repetition_penalty = 10.0f; },
      [](SamplingParams& p) { p.presence_penalty = -2.0f; },
      [](SamplingParams& p) { p.presence_penalty = 2.0f; },
      [](SamplingParams& p) { p.frequency_penalty = -2.0f; },
      [](SamplingParams& p) { p.frequency_penalty = 2.0f; },
      [](SamplingParams& p) { p.logprobs = 0; },
      [](SamplingParams& p) { p.logprobs = kMaxLogprobs; },
      [](SamplingParams& p) { p.seed = ~uint64_t{0}; },
  };
  for (size_t i = 0; i < edges.size(); ++i) {
    SamplingParams params;
    edges[i](params);
    EXPECT_TRUE(ValidateSamplingParams(params, 512).ok())
        << "edge case " << i << ": "
        << ValidateSamplingParams(params, 512).message();
  }
}

// ---------------------------------------------------------------------------
// Penalties

TEST(PenaltyStateTest, CountsPromptAndOutputSeparately) {
  const std::vector<int> prompt = {5, 5, 7};
  PenaltyState state(prompt);
  state.AddOutputToken(7);
  state.AddOutputToken(9);
  state.AddOutputToken(9);
  state.AddOutputToken(-1);  // ignored
  EXPECT_EQ(state.prompt_count(5), 2);
  EXPECT_EQ(state.output_count(5), 0);
  EXPECT_EQ(state.prompt_count(7), 1);
  EXPECT_EQ(state.output_count(7), 1);
  EXPECT_EQ(state.output_count(9), 2);
  EXPECT_EQ(state.prompt_count(3), 0);
  EXPECT_EQ(state.output_count(-1), 0);
  EXPECT_EQ(state.counts().size(), 3u);
}

// Logits and counts chosen so that every result is exact in binary.
//   token  logit  prompt  output   expected
//   0       2.0    1       0        2 / 2                          =  1.0
//   1      -2.0    1       1       -2 * 2 - 0.5 - 0.25 * 1         = -4.75
//   2       1.0    0       2        1 / 2 - 0.5 - 0.25 * 2         = -0.5
//   3       0.5    0       1        0.5 / 2 - 0.5 - 0.25           = -0.5
//   4      -1.0    0       0       unseen                          = -1.0
//   5       3.0    0       0       unseen                          =  3.0
//   6       0.0    1       0        0 * 2 (not > 0: multiplied)    =  0.0
//   7      -1.0    0       3       -1 * 2 - 0.5 - 0.25 * 3         = -3.25
TEST(ApplyPenaltiesTest, FollowsTheDocumentedFormulas) {
  std::vector<float> logits = {2.0f,  -2.0f, 1.0f, 0.5f,
                               -1.0f, 3.0f,  0.0f, -1.0f};
  PenaltyState state;
  for (int id : {0, 1, 6}) state.AddPromptToken(id);
  for (int id : {2, 2, 3, 1, 7, 7, 7}) state.AddOutputToken(id);
  state.AddOutputToken(100);  // beyond the logits: ignored
  SamplingParams params;
  params.repetition_penalty = 2.0f;
  params.presence_penalty = 0.5f;
  params.frequency_penalty = 0.25f;
  ApplyPenalties(absl::MakeSpan(logits), params, state);
  const std::vector<float> expected = {1.0f,  -4.75f, -0.5f, -0.5f,
                                       -1.0f, 3.0f,   0.0f,  -3.25f};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_FLOAT_EQ(logits[i], expected[i]) << "token " << i;
  }
}

TEST(ApplyPenaltiesTest, EachPenaltyAlone) {
  PenaltyState state;
  state.AddPromptToken(0);
  state.AddOutputToken(1);
  state.AddOutputToken(1);
  state.AddOutputToken(1);
  const std::vector<float> base = {4.0f, -3.0f, 1.0f};

  SamplingParams repetition;
  repetition.repetition_penalty = 0.5f;  // < 1 encourages repeats
  std::vector<float> l = base;
  ApplyPenalties(absl::MakeSpan(l), repetition, state);
  EXPECT_FLOAT_EQ(l[0], 8.0f);   // 4 / 0.5
  EXPECT_FLOAT_EQ(l[1], -1.5f);  // -3 * 0.5
  EXPECT_FLOAT_EQ(l[2], 1.0f);

  SamplingParams presence;
  presence.presence_penalty = 1.5f;
  l = base;
  ApplyPenalties(absl::MakeSpan(l), presence, state);
  EXPECT_FLOAT_EQ(l[0], 4.0f);   // prompt tokens are not penalised
  EXPECT_FLOAT_EQ(l[1], -4.5f);  // -3 - 1.5, once however many times
  EXPECT_FLOAT_EQ(l[2], 1.0f);

  SamplingParams frequency;
  frequency.frequency_penalty = -0.5f;  // negative encourages
  l = base;
  ApplyPenalties(absl::MakeSpan(l), frequency, state);
  EXPECT_FLOAT_EQ(l[0], 4.0f);
  EXPECT_FLOAT_EQ(l[1], -1.5f);  // -3 + 0.5 * 3
  EXPECT_FLOAT_EQ(l[2], 1.0f);

  l = base;
  ApplyPenalties(absl::MakeSpan(l), SamplingParams{}, state);
  EXPECT_EQ(l, base);
}

TEST(SamplerTest, PenaltiesShapeTheDistribution) {
  // Penalised logits from the table above; the distribution must be their
  // softmax, computed here independently.
  const std::vector<float> logits = {2.0f,  -2.0f, 1.0f, 0.5f,
                                     -1.0f, 3.0f,  0.0f, -1.0f};
  const std::vector<double> penalised = {1.0,  -4.75, -0.5, -0.5,
                                         -1.0, 3.0,   0.0,  -3.25};
  PenaltyState state;
  for (int id : {0, 1, 6}) state.AddPromptToken(id);
  for (int id : {2, 2, 3, 1, 7, 7, 7}) state.AddOutputToken(id);
  SamplingParams params;
  params.repetition_penalty = 2.0f;
  params.presence_penalty = 0.5f;
  params.frequency_penalty = 0.25f;
  double total = 0.0;
  for (double x : penalised) total += std::exp(x);
  std::vector<double> expected;
  for (double x : penalised) expected.push_back(std::exp(x) / total);
  ExpectNear(FilteredDistribution(logits, params, state), expected);
  ExpectDrawsFollowDistribution(logits, params, state);

  // Greedy follows the penalised argmax too: a large frequency penalty on
  // the raw argmax (token 5) moves the choice to token 0.
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  greedy.frequency_penalty = 2.0f;
  PenaltyState repeated;
  repeated.AddOutputToken(5);
  EXPECT_EQ(SampleToken(logits, greedy, repeated, 0).token, 0);
  EXPECT_EQ(SampleToken(logits, greedy, PenaltyState{}, 0).token, 5);
}

// ---------------------------------------------------------------------------
// FilteredDistribution against hand arithmetic on kWeights (sum 55).

TEST(FilteredDistributionTest, NoFiltersIsTheSoftmax) {
  ExpectNear(FilteredDistribution(LogWeights(kWeights), SamplingParams{}, {}),
             Expected(kWeights, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, Identity));
}

TEST(FilteredDistributionTest, Temperature) {
  // z = log(w) / T, so p is proportional to w^(1/T).
  SamplingParams params;
  params.temperature = 2.0f;
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
                      [](double w) { return std::sqrt(w); }));
  params.temperature = 0.5f;
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
                      [](double w) { return w * w; }));
}

TEST(FilteredDistributionTest, TopK) {
  SamplingParams params;
  params.top_k = 3;  // 10, 9, 8 survive: p = w / 27
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {10, 9, 8}, Identity));
  params.top_k = 1;
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {10}, Identity));
  params.top_k = 10;  // == vocab: no-op
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, Identity));
  params.top_k = 1000;  // above the vocabulary: clamped
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, Identity));
}

TEST(FilteredDistributionTest, TopKTiesKeepExactlyKLowestIndexFirst) {
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, 3.0f, 0.0f};
  SamplingParams params;
  params.top_k = 2;
  ExpectNear(FilteredDistribution(logits, params, {}),
             {0.0, 0.5, 0.5, 0.0, 0.0});
}

TEST(FilteredDistributionTest, TopP) {
  SamplingParams params;
  // Descending 10, 9, 8, 7 reach 10/55, 19/55, 27/55 = 0.491, 34/55 = 0.618:
  // the smallest set with mass >= 0.6 is {10, 9, 8, 7}, renormalised by 34.
  params.top_p = 0.6f;
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {10, 9, 8, 7}, Identity));
  // 0.4 is reached by 10, 9, 8 (0.491 >= 0.4 > 0.345 = 19/55).
  params.top_p = 0.4f;
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {10, 9, 8}, Identity));
  // Tiny top_p keeps the single most probable token.
  params.top_p = 1e-6f;
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {10}, Identity));
}

TEST(FilteredDistributionTest, TopPAfterTemperature) {
  // T = 2: weights sqrt(w). Total = sum sqrt(1..10); walk sqrt(10),
  // sqrt(9), ... until the mass reaches half of it.
  SamplingParams params;
  params.temperature = 2.0f;
  params.top_p = 0.5f;
  double total = 0.0;
  for (int w = 1; w <= 10; ++w) total += std::sqrt(w);
  std::vector<double> kept;
  double mass = 0.0;
  for (int w = 10; w >= 1 && mass < 0.5 * total; --w) {
    mass += std::sqrt(w);
    kept.push_back(w);
  }
  ASSERT_EQ(kept.size(), 4u);  // 3.162 + 3 + 2.828 + 2.646 = 11.64 >= 11.23
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, kept, [](double w) { return std::sqrt(w); }));
}

TEST(FilteredDistributionTest, TopPTiesLowestIndexFirst) {
  const std::vector<float> logits = {3.0f, 3.0f, 3.0f, 3.0f};
  SamplingParams params;
  params.top_p = 0.5f;  // two of four equal tokens reach exactly 0.5
  ExpectNear(FilteredDistribution(logits, params, {}), {0.5, 0.5, 0.0, 0.0});
}

TEST(FilteredDistributionTest, MinP) {
  SamplingParams params;
  // p_max = 10/55; keep p >= 0.45 * p_max, i.e. w >= 4.5: {5..10}, sum 45.
  params.min_p = 0.45f;
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {5, 6, 7, 8, 9, 10}, Identity));
  // min_p = 1 keeps the maximum and its ties only.
  params.min_p = 1.0f;
  ExpectNear(FilteredDistribution({2.0f, 5.0f, 5.0f, 1.0f}, params, {}),
             {0.0, 0.5, 0.5, 0.0});
}

TEST(FilteredDistributionTest, CombinedFiltersApplyInOrder) {
  SamplingParams params;
  // top_k 6: {10, 9, 8, 7, 6, 5}, mass 45. top_p 0.75 of 45 = 33.75:
  // 10, 19, 27, 34 -> {10, 9, 8, 7}. min_p 0.75: w >= 7.5 -> {10, 9, 8}.
  params.top_k = 6;
  params.top_p = 0.75f;
  params.min_p = 0.75f;
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {10, 9, 8}, Identity));
  // Had top_p been taken on the unfiltered mass (0.75 * 55 = 41.25), it would
  // have kept 10..6 (mass 40 < 41.25 needs 5 too): the renormalisation after
  // top_k matters. With min_p off: {10, 9, 8, 7}, renormalised by 34.
  params.min_p = 0.0f;
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {10, 9, 8, 7}, Identity));
  // Temperature 0.5 (weights w^2) with top_k 4: {10, 9, 8, 7}, sum 294.
  params = SamplingParams{};
  params.temperature = 0.5f;
  params.top_k = 4;
  ExpectNear(FilteredDistribution(LogWeights(kWeights), params, {}),
             Expected(kWeights, {10, 9, 8, 7}, [](double w) { return w * w; }));
}

TEST(FilteredDistributionTest, GreedyIsOneHotAtTheFirstMaximum) {
  SamplingParams params;
  params.temperature = 0.0f;
  params.top_k = 3;  // ignored by greedy
  ExpectNear(FilteredDistribution({1.0f, 5.0f, 5.0f, 2.0f}, params, {}),
             {0.0, 1.0, 0.0, 0.0});
}

TEST(FilteredDistributionTest, NanIsNeverDrawnAndMinusInfinityIsZero) {
  const std::vector<float> logits = {kNaN, 1.0f, -kInf, 1.0f};
  ExpectNear(FilteredDistribution(logits, SamplingParams{}, {}),
             {0.0, 0.5, 0.0, 0.5});
  ExpectDrawsFollowDistribution(logits, SamplingParams{});
  // No usable logit at all: the argmax fallback (token 0) rather than NaN.
  const std::vector<float> dead = {-kInf, kNaN, -kInf};
  EXPECT_EQ(SampleToken(dead, SamplingParams{}, {}, 7).token, 0);
  ExpectNear(FilteredDistribution(dead, SamplingParams{}, {}), {1.0, 0.0, 0.0});
}

// A vocabulary-sized row where top_p needs over a thousand tokens, so the
// sampler's growing partial sort goes through several rounds; checked
// against a full sort written here.
TEST(FilteredDistributionTest, TopPOnALargeVocabularyMatchesAFullSort) {
  constexpr int kVocab = 32000;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> logits(kVocab);
  for (float& l : logits) l = normal(rng);
  logits[123] = logits[456];  // a tie somewhere
  SamplingParams params;
  params.top_p = 0.9f;
  params.temperature = 0.8f;

  std::vector<double> w(kVocab);
  const double max = *std::max_element(logits.begin(), logits.end());
  const double t =
      params.temperature;  // the float 0.8f, as the sampler sees it
  for (int i = 0; i < kVocab; ++i) w[i] = std::exp((logits[i] - max) / t);
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  std::vector<int> ids(kVocab);
  std::iota(ids.begin(), ids.end(), 0);
  std::sort(ids.begin(), ids.end(), [&](int a, int b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  });
  std::vector<double> expected(kVocab, 0.0);
  double mass = 0.0;
  size_t n = 0;
  while (n < ids.size() && mass < 0.9 * total) mass += w[ids[n++]];
  ASSERT_GT(n, 1000u);
  for (size_t j = 0; j < n; ++j) expected[ids[j]] = w[ids[j]] / mass;
  ExpectNear(FilteredDistribution(logits, params, {}), expected, 1e-12);
}

// ---------------------------------------------------------------------------
// Empirical frequencies of the draws.

TEST(SamplerDrawTest, PureTemperature) {
  const std::vector<float> logits = LogWeights(kWeights);
  for (float t : {1.0f, 0.7f, 1.8f}) {
    SCOPED_TRACE(t);
    SamplingParams params;
    params.temperature = t;
    ExpectDrawsFollowDistribution(logits, params);
  }
}

TEST(SamplerDrawTest, TopK) {
  SamplingParams params;
  params.top_k = 4;
  ExpectDrawsFollowDistribution(LogWeights(kWeights), params);
}

TEST(SamplerDrawTest, TopP) {
  SamplingParams params;
  params.top_p = 0.6f;
  ExpectDrawsFollowDistribution(LogWeights(kWeights), params);
}

TEST(SamplerDrawTest, MinP) {
  SamplingParams params;
  params.min_p = 0.45f;
  ExpectDrawsFollowDistribution(LogWeights(kWeights), params);
}

TEST(SamplerDrawTest, CombinedFilters) {
  SamplingParams params;
  params.temperature = 0.9f;
  params.top_k = 8;
  params.top_p = 0.9f;
  params.min_p = 0.2f;
  ExpectDrawsFollowDistribution(LogWeights(kWeights), params);
  // Twelve tokens with arbitrary distinct logits.
  const std::vector<float> logits = {0.3f, -1.2f, 2.1f,  0.9f, 1.7f, -0.4f,
                                     1.1f, 0.0f,  -2.5f, 1.4f, 0.6f, 2.4f};
  params.temperature = 1.3f;
  params.top_k = 9;
  params.top_p = 0.85f;
  params.min_p = 0.1f;
  ExpectDrawsFollowDistribution(logits, params);
}

// ---------------------------------------------------------------------------
// Reproducibility and greedy.

TEST(SamplerDrawTest, SameInputsSameTokenWhateverTheCallOrder) {
  const std::vector<float> logits = LogWeights(kWeights);
  SamplingParams params;
  params.seed = 42;
  std::vector<int> forward;
  for (int i = 0; i < 500; ++i) {
    forward.push_back(SampleToken(logits, params, {}, i).token);
  }
  // Backwards, interleaved with draws of another stream: no hidden state.
  SamplingParams other = params;
  other.seed = 43;
  for (int i = 499; i >= 0; --i) {
    SampleToken(logits, other, {}, i);
    EXPECT_EQ(SampleToken(logits, params, {}, i).token, forward[i]) << i;
  }
}

TEST(SamplerDrawTest, DifferentSeedsGiveDifferentSequences) {
  const std::vector<float> logits = LogWeights(kWeights);
  std::vector<std::vector<int>> sequences;
  for (uint64_t seed : {0ull, 1ull, 2ull, 1ull << 63, ~0ull}) {
    SamplingParams params;
    params.seed = seed;
    std::vector<int> seq;
    for (int i = 0; i < 100; ++i) {
      seq.push_back(SampleToken(logits, params, {}, i).token);
    }
    for (const std::vector<int>& earlier : sequences) {
      EXPECT_NE(seq, earlier) << "seed " << seed;
    }
    sequences.push_back(seq);
  }
}

TEST(SamplerDrawTest, CounterUniformIsInRangeAndSpread) {
  double sum = 0.0;
  constexpr int kN = 100000;
  for (int i = 0; i < kN; ++i) {
    const double u = CounterUniform(12345, i);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / kN, 0.5, 0.005);  // sd of the mean: 0.29 / sqrt(1e5)
  EXPECT_NE(CounterUniform(0, 0), CounterUniform(1, 0));
  EXPECT_NE(CounterUniform(0, 0), CounterUniform(0, 1));
  EXPECT_EQ(CounterUniform(9, 17), CounterUniform(9, 17));
}

TEST(SamplerDrawTest, GreedyIgnoresSeedAndIndex) {
  const std::vector<float> logits = {0.5f, 2.0f, 4.0f, 4.0f, -1.0f};
  SamplingParams params;
  params.temperature = 0.0f;
  params.top_p = 0.1f;  // filters are irrelevant to greedy
  for (uint64_t seed : {0ull, 7ull, 123456789ull}) {
    params.seed = seed;
    for (uint64_t index : {0ull, 1ull, 99ull, 1ull << 40}) {
      EXPECT_EQ(SampleToken(logits, params, {}, index).token, 2);
    }
  }
}

// ---------------------------------------------------------------------------
// Logprobs: raw log_softmax, independent of penalties, temperature and
// filters.

// log_softmax in long double, written independently of the sampler.
std::vector<double> ReferenceLogSoftmax(const std::vector<float>& logits) {
  long double max = logits[0];
  for (float l : logits) max = std::max<long double>(max, l);
  long double sum = 0.0L;
  for (float l : logits) sum += std::exp(static_cast<long double>(l) - max);
  std::vector<double> out;
  for (float l : logits)
    out.push_back(static_cast<double>(l - max - std::log(sum)));
  return out;
}

TEST(SamplerLogprobsTest, RawLogSoftmaxSortedAndNormalised) {
  const std::vector<float> logits = {0.3f, -1.2f, 2.1f,  0.9f, 1.7f, -0.4f,
                                     1.1f, 0.0f,  -2.5f, 1.4f, 0.6f, 2.4f};
  const std::vector<double> reference = ReferenceLogSoftmax(logits);
  SamplingParams params;
  params.logprobs = 12;  // the whole vocabulary
  params.temperature = 0.5f;
  params.top_k = 3;
  params.repetition_penalty = 1.5f;
  params.frequency_penalty = 1.0f;
  PenaltyState state;
  state.AddOutputToken(11);
  for (int i = 0; i < 50; ++i) {
    const SampledToken t = SampleToken(logits, params, state, i);
    EXPECT_NEAR(t.logprob, reference[t.token], 1e-5);
    ASSERT_EQ(t.top.size(), logits.size());
    double total = 0.0;
    for (size_t j = 0; j < t.top.size(); ++j) {
      EXPECT_NEAR(t.top[j].logprob, reference[t.top[j].token], 1e-5);
      if (j > 0) {
        EXPECT_GE(t.top[j - 1].logprob, t.top[j].logprob);
      }
      total += std::exp(static_cast<double>(t.top[j].logprob));
    }
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
}

TEST(SamplerLogprobsTest, TopNIsTheNLargest) {
  const std::vector<float> logits = {0.3f, -1.2f, 2.1f,  0.9f, 1.7f, -0.4f,
                                     1.1f, 0.0f,  -2.5f, 1.4f, 0.6f, 2.4f};
  SamplingParams params;
  params.logprobs = 3;
  const SampledToken t = SampleToken(logits, params, {}, 0);
  ASSERT_EQ(t.top.size(), 3u);
  EXPECT_EQ(t.top[0].token, 11);
  EXPECT_EQ(t.top[1].token, 2);
  EXPECT_EQ(t.top[2].token, 4);

  params.logprobs = 0;
  EXPECT_TRUE(SampleToken(logits, params, {}, 0).top.empty());
  params.logprobs = kMaxLogprobs;  // more than the vocabulary: all of it
  EXPECT_EQ(SampleToken(logits, params, {}, 0).top.size(), logits.size());
}

TEST(SamplerLogprobsTest, GreedyReportsTheRawLogprob) {
  const std::vector<float> logits = LogWeights(kWeights);
  SamplingParams params;
  params.temperature = 0.0f;
  const SampledToken t = SampleToken(logits, params, {}, 0);
  EXPECT_EQ(t.token, 3);  // weight 10
  EXPECT_NEAR(t.logprob, std::log(10.0 / 55.0), 1e-6);
}

TEST(SamplerTest, EmptyLogits) {
  EXPECT_EQ(SampleToken({}, SamplingParams{}, {}, 0).token, -1);
  EXPECT_TRUE(FilteredDistribution({}, SamplingParams{}, {}).empty());
}

}  // namespace
}  // namespace headroom::runtime
