// Export: a compressed model written as an ordinary Hugging Face GQA
// checkpoint and loaded back computes what the in-memory model computes. On
// the embedded MHA model (headroom-tiny, 8 KV heads) and the tests/data text:
// runs without ../shared.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "compress/apply.h"
#include "runtime/weights/hf_checkpoint.h"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::compress {
namespace {

namespace t = ::headroom::testing;

TEST(ExportTest, ExportedGqaModelMatchesInMemoryModel) {
  testing::LoadedModel m = testing::LoadShared(t::EmbeddedModelPath());
  ASSERT_EQ(m.weights.config.n_kv_heads, 8);
  const CalibrationStats stats = testing::CalibrateOn(
      m, testing::Lines(t::EmbeddedTextPath(), t::kEmbeddedCalibFirst,
                        t::kEmbeddedCalibLast));
  const auto eval = testing::Lines(t::EmbeddedTextPath(), t::kEmbeddedEvalFirst,
                                   t::kEmbeddedEvalLast);
  for (const char* method :
       {"rope-commuting", "mean-pool", "rope-commuting-qa+refit"}) {
    const Projections p = testing::Compress(m, stats, method, 2);
    const double in_memory = testing::Perplexity(m, &p, eval);

    runtime::ModelWeights w = m.weights;
    ASSERT_TRUE(ApplyProjections(p, &w).ok());
    const std::string dir = ::headroom::testing::MakeTempDir(method);
    auto s = runtime::WriteHfCheckpoint(w, dir);
    ASSERT_TRUE(s.ok()) << s;
    auto loaded = runtime::LoadHfCheckpoint(dir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->config.n_kv_heads, 2) << "an ordinary GQA checkpoint";
    EXPECT_TRUE(loaded->config.cache_kv_heads.empty());
    testing::LoadedModel exported{std::move(*loaded), std::move(m.tokenizer)};
    const double from_disk = testing::Perplexity(exported, nullptr, eval);
    m.tokenizer = std::move(exported.tokenizer);
    EXPECT_NEAR(from_disk, in_memory, 1e-5 * in_memory) << method;
  }
}

TEST(ExportTest, RuntimeProjectionsCannotBeExported) {
  testing::LoadedModel m = testing::LoadShared(t::EmbeddedModelPath());
  const CalibrationStats stats = testing::CalibrateOn(
      m, testing::Lines(t::EmbeddedTextPath(), t::kEmbeddedCalibFirst,
                        t::kEmbeddedCalibLast));
  const Projections p = testing::Compress(m, stats, "svd-a", 2);
  runtime::ModelWeights w = m.weights;
  ASSERT_TRUE(ApplyProjections(p, &w).ok());
  auto s = runtime::WriteHfCheckpoint(w, ::headroom::testing::MakeTempDir("x"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace headroom::compress
