// Export: a compressed model written as an ordinary Hugging Face GQA
// checkpoint and loaded back computes what the in-memory model computes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "compress/apply.h"
#include "runtime/hf_checkpoint.h"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::compress {
namespace {

TEST(ExportTest, ExportedGqaModelMatchesInMemoryModel) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K-mha8/stories260K_mha8.bin");
  HEADROOM_REQUIRE_SHARED(text, "data/tinystories_val.txt");
  testing::LoadedModel m = testing::LoadShared(model);
  const CalibrationStats stats =
      testing::CalibrateOn(m, testing::Lines(text, 1, 200));
  const auto eval = testing::Lines(text, 3001, 3060);
  for (const char* method : {"rope-commuting", "mean-pool",
                             "rope-commuting-qa+refit"}) {
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
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(text, "data/tinystories_val.txt");
  testing::LoadedModel m = testing::LoadShared(model);
  const CalibrationStats stats =
      testing::CalibrateOn(m, testing::Lines(text, 1, 50));
  const Projections p = testing::Compress(m, stats, "svd-a", 2);
  runtime::ModelWeights w = m.weights;
  ASSERT_TRUE(ApplyProjections(p, &w).ok());
  auto s = runtime::WriteHfCheckpoint(w, ::headroom::testing::MakeTempDir("x"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace headroom::compress
