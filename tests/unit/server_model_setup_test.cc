// Loading the served model with compression on load: the projections cache
// is keyed by every setting that changes the result, and the settings reach
// the compressor (a KV budget gives per-layer heads and a decision record).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "nlohmann/json.hpp"
#include "server/model_setup.h"
#include "tests/test_support.h"

namespace headroom::server {
namespace {

using ::testing::HasSubstr;
namespace t = ::headroom::testing;

TEST(ProjectionsCacheNameTest, EverySettingChangesTheName) {
  const CompressionSection base;
  const std::vector<std::function<void(CompressionSection&)>> changes = {
      [](CompressionSection& c) { c.method = "svd-a-qa"; },
      [](CompressionSection& c) { c.settings.kv_heads = 2; },
      [](CompressionSection& c) { c.settings.kv_budget = 0.5; },
      [](CompressionSection& c) { c.settings.regroup = true; },
      [](CompressionSection& c) { c.settings.calibration_tokens = 100; },
      [](CompressionSection& c) { c.settings.holdback_tokens = 4096; },
      [](CompressionSection& c) { c.settings.refit_tokens = 8192; },
      [](CompressionSection& c) { c.settings.refit_ridge = 1e-2; },
      // Exact values: a ridge that differs in the last digits is another fit.
      [](CompressionSection& c) { c.settings.refit_ridge = 1.0000001e-4; },
      [](CompressionSection& c) { c.settings.refit_inputs = "propagated"; },
      [](CompressionSection& c) { c.calibration_first_line = 2; },
      [](CompressionSection& c) { c.calibration_last_line = 9; },
  };
  std::set<std::string> names = {ProjectionsCacheName("m", base, "d")};
  EXPECT_EQ(*names.begin(), ProjectionsCacheName("m", base, "d"));
  EXPECT_NE(*names.begin(), ProjectionsCacheName("m2", base, "d"));
  EXPECT_NE(*names.begin(), ProjectionsCacheName("m", base, "d2"));
  for (size_t i = 0; i < changes.size(); ++i) {
    CompressionSection c = base;
    changes[i](c);
    EXPECT_TRUE(names.insert(ProjectionsCacheName("m", c, "d")).second)
        << "change " << i << " keeps the cache name";
  }
  // Where the cache lives is not part of what it holds.
  CompressionSection elsewhere = base;
  elsewhere.cache_dir = "/elsewhere";
  EXPECT_EQ(ProjectionsCacheName("m", elsewhere, "d"),
            ProjectionsCacheName("m", base, "d"));
}

ServerConfig EmbeddedConfig(const std::string& cache_dir) {
  ServerConfig c;
  c.model.path = t::EmbeddedModelPath();
  c.compression.method = "svd-a";
  c.compression.settings.kv_heads = 4;
  c.compression.calibration_text = t::EmbeddedTextPath();
  c.compression.calibration_first_line = t::kEmbeddedCalibFirst;
  c.compression.calibration_last_line = t::kEmbeddedCalibLast;
  c.compression.cache_dir = cache_dir;
  return c;
}

std::string SourceOf(const ServerConfig& c) {
  auto served = LoadServedModel(c, nullptr);
  EXPECT_TRUE(served.ok()) << served.status();
  return served.ok() ? served->projections_source : "failed";
}

TEST(LoadServedModelTest, ASettingChangedMissesTheCache) {
  ServerConfig c = EmbeddedConfig(t::MakeTempDir("setup-cache"));
  EXPECT_EQ(SourceOf(c), "computed");
  EXPECT_EQ(SourceOf(c), "cache");
  c.compression.settings.holdback_tokens = 64;
  EXPECT_EQ(SourceOf(c), "computed");
  c.compression.settings.regroup = true;
  EXPECT_EQ(SourceOf(c), "computed");
  EXPECT_EQ(SourceOf(c), "cache");
}

TEST(LoadServedModelTest, KvBudgetChoosesHeadsPerLayerAndRecordsWhy) {
  ServerConfig c = EmbeddedConfig("");
  c.compression.settings.kv_heads = 0;
  c.compression.settings.kv_budget = 0.5;
  auto served = LoadServedModel(c, nullptr);
  ASSERT_TRUE(served.ok()) << served.status();
  const nlohmann::json decision =
      nlohmann::json::parse(served->compression_decision);
  ASSERT_EQ(served->layers.size(), 2u);
  // The allocation, unless the uniform split at the same bytes won.
  const bool allocated =
      decision["chosen"].get<std::string>().rfind("allocated:", 0) == 0;
  int heads = 0;
  for (size_t l = 0; l < served->layers.size(); ++l) {
    EXPECT_EQ(served->layers[l].kv_heads_served,
              allocated ? decision["allocation"][l].get<int>() : 4)
        << decision.dump();
    heads += served->layers[l].kv_heads_served;
  }
  EXPECT_LE(heads, 8);  // half of 2 layers x 8 heads
  EXPECT_EQ(decision["kv_budget"].get<double>(), 0.5);
}

TEST(LoadServedModelTest, SettingsTheModelCannotTakeNameTheKey) {
  ServerConfig c = EmbeddedConfig("");
  c.compression.settings.kv_heads = 3;
  EXPECT_THAT(std::string(LoadServedModel(c, nullptr).status().message()),
              HasSubstr("compression.kv_heads: 3 must divide the model's 8"));
  c.compression.settings.kv_heads = 0;
  c.compression.settings.kv_budget = 0.1;
  EXPECT_THAT(std::string(LoadServedModel(c, nullptr).status().message()),
              HasSubstr("compression.kv_budget: 0.1 must be in [1/8, 1]"));
}

}  // namespace
}  // namespace headroom::server
