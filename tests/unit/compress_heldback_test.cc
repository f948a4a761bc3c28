// The decision between whole-model candidates: paired NLL differences with
// standard errors clustered by line, the weak-evidence rule, the record it
// leaves; and how many calibration lines are held back for it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "compress/calibration.h"
#include "compress/heldback.h"
#include "nlohmann/json.hpp"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::compress {
namespace {

using ::testing::HasSubstr;

PerplexityResult Nll(std::vector<double> tokens, std::vector<int64_t> lines) {
  PerplexityResult r;
  r.token_nll = std::move(tokens);
  r.sequence_tokens = std::move(lines);
  r.sequences = static_cast<int64_t>(r.sequence_tokens.size());
  r.predicted_tokens = static_cast<int64_t>(r.token_nll.size());
  for (double v : r.token_nll) r.nll_sum += v;
  return r;
}

// By hand: differences 1, 0, 1 | -1, mean 0.25; cluster sums of the
// deviations 1.25 and -1.25, so SE = sqrt(2 * 1.5625) / 4.
TEST(PairedNllDifferenceTest, MeanAndClusteredStandardError) {
  auto d =
      PairedNllDifference(Nll({1, 2, 3, 4}, {3, 1}), Nll({0, 2, 2, 5}, {3, 1}));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_DOUBLE_EQ(d->mean, 0.25);
  EXPECT_DOUBLE_EQ(d->se, std::sqrt(3.125) / 4.0);
}

TEST(PairedNllDifferenceTest, DifferentTokensAreRefused) {
  auto d = PairedNllDifference(Nll({1, 2}, {2}), Nll({1, 2, 3}, {3}));
  EXPECT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("cover different tokens"));
  EXPECT_FALSE(PairedNllDifference(Nll({1, 2}, {2}), Nll({1, 2}, {1, 1})).ok());
}

// 200 lines of 10 tokens: `base` plus a per-line offset pattern.
PerplexityResult Lines(double shift, double wiggle) {
  std::vector<double> t;
  for (int line = 0; line < 200; ++line) {
    for (int k = 0; k < 10; ++k) {
      t.push_back(2.0 + shift + wiggle * ((line % 2) ? 1.0 : -1.0) + 0.01 * k);
    }
  }
  return Nll(t, std::vector<int64_t>(200, 10));
}

TEST(DecideTest, ClearWinnerIsTakenOnNll) {
  std::vector<ScoredCandidate> c = {
      {"a", Lines(0.10, 0.05), 0.1, {2}},
      {"b", Lines(0.00, 0.05), 0.5, {2}},  // 0.1 nats better, SE ~0
      {"c", Lines(0.30, 0.05), 0.2, {2}}};
  auto d = Decide(c, {}, R"({"mode":"test"})");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->chosen, 1u);
  EXPECT_FALSE(d->weak_evidence);
  const auto j = nlohmann::json::parse(d->json);
  EXPECT_EQ(j["chosen"], "b");
  EXPECT_EQ(j["mode"], "test");
  EXPECT_EQ(j["heldback_predicted_tokens"], 2000);
  EXPECT_EQ(j["heldback_lines"], 200);
  ASSERT_EQ(j["candidates"].size(), 3u);
  EXPECT_NEAR(j["candidates"][0]["nll_minus_best"].get<double>(), 0.10, 1e-9);
  EXPECT_FALSE(j["candidates"][0]["within_z_se"].get<bool>());
  EXPECT_THAT(j["rule"].get<std::string>(), HasSubstr("lowest held-back NLL"));
  EXPECT_THAT(j["warning"].get<std::string>(), HasSubstr("only 2000"));
}

// b is ahead by 0.001 nats on average, but lines disagree by +-0.2: the
// evidence is weak, and a (lower output error) is chosen, saying so.
TEST(DecideTest, WeakEvidenceFallsBackToOutputError) {
  PerplexityResult a = Lines(0.0, 0.0), b = Lines(0.0, 0.0);
  for (size_t i = 0; i < b.token_nll.size(); ++i) {
    b.token_nll[i] += ((i / 10) % 2 ? 0.2 : -0.2) - 0.001;
  }
  b.nll_sum = 0;
  for (double v : b.token_nll) b.nll_sum += v;
  std::vector<ScoredCandidate> c = {{"a", a, 0.1, {1}}, {"b", b, 0.3, {1}}};
  auto d = Decide(c, {}, "{}");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->weak_evidence);
  EXPECT_EQ(d->chosen, 0u);
  const auto j = nlohmann::json::parse(d->json);
  EXPECT_THAT(j["rule"].get<std::string>(), HasSubstr("weak evidence"));
  EXPECT_THAT(j["rule"].get<std::string>(), HasSubstr("layer-output error"));
  EXPECT_TRUE(j["weak_evidence"].get<bool>());
  // The same margin with no spread between lines is decisive.
  for (size_t i = 0; i < b.token_nll.size(); ++i) {
    c[1].nll.token_nll[i] = a.token_nll[i] - 0.001;
  }
  c[1].nll.nll_sum = a.nll_sum - 0.001 * 2000;
  d = Decide(c, {}, "{}");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->weak_evidence);
  EXPECT_EQ(d->chosen, 1u);
}

TEST(HoldbackTest, LinesAreHeldBackUntilTheTokenTarget) {
  namespace t = ::headroom::testing;
  testing::LoadedModel m = testing::LoadShared(t::EmbeddedModelPath());
  const auto lines = testing::Lines(
      t::EmbeddedTextPath(), t::kEmbeddedCalibFirst, t::kEmbeddedCalibLast);
  auto calibrate = [&](int64_t target) {
    CalibrationOptions o;
    o.holdback_tokens = target;
    auto s = Calibrate(m.weights, *m.tokenizer, lines, o, 1);
    EXPECT_TRUE(s.ok()) << s.status();
    return std::move(*s);
  };
  const CalibrationStats some = calibrate(200);
  EXPECT_GE(some.heldback_tokens, 200);
  EXPECT_LT(some.heldback_begin, lines.size());
  // One line fewer would not have reached the target.
  const std::string& first = lines[some.heldback_begin];
  EXPECT_LT(some.heldback_tokens -
                static_cast<int64_t>(m.tokenizer->Encode(first, true).size()),
            200);
  EXPECT_EQ(some.requested_heldback_tokens, 200);
  // Never more than half the lines; none when the target is 0.
  EXPECT_EQ(calibrate(1 << 30).heldback_begin, lines.size() - lines.size() / 2);
  const CalibrationStats none = calibrate(0);
  EXPECT_EQ(none.heldback_begin, lines.size());
  EXPECT_EQ(none.heldback_tokens, 0);
}

}  // namespace
}  // namespace headroom::compress
