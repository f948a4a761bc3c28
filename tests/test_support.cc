#include "tests/test_support.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/sequence_runner.h"

namespace headroom::testing {

std::string SharedPath(const std::string& relative) {
  std::filesystem::path p =
      std::filesystem::path(HEADROOM_SHARED_DIR) / relative;
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) return "";
  return std::filesystem::weakly_canonical(p, ec).string();
}

std::string EmbeddedModelPath() {
  return (std::filesystem::path(HEADROOM_SOURCE_DIR) / "models/headroom-tiny")
      .string();
}

std::string EmbeddedTextPath() {
  return (std::filesystem::path(HEADROOM_SOURCE_DIR) /
          "tests/data/tiny_stories.txt")
      .string();
}

std::string BinaryPath(const std::string& relative) {
  return (std::filesystem::path(HEADROOM_BINARY_DIR) / relative).string();
}

std::string MakeTempDir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("headroom_test_" + std::to_string(::getpid()));
  if (info != nullptr) {
    dir /= std::string(info->test_suite_name()) + "." + info->name();
  }
  dir /= name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json ReadJsonFile(const std::string& path) {
  return nlohmann::json::parse(ReadTextFile(path));
}

std::vector<float> NormalValues(int64_t count, std::mt19937& rng,
                                float stddev) {
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<int> GreedyTokens(runtime::Backend& backend,
                              const std::vector<int>& prompt, int steps) {
  runtime::SequenceRunner runner(&backend);
  std::vector<float> logits;
  auto s = runner.Append(prompt, false, &logits);
  EXPECT_TRUE(s.ok()) << s;
  std::vector<int> out;
  for (int i = 0; i < steps && s.ok(); ++i) {
    const int next = runtime::Argmax(logits);
    out.push_back(next);
    if (i + 1 < steps) {
      s = runner.Append({&next, 1}, false, &logits);
      EXPECT_TRUE(s.ok()) << s;
    }
  }
  return out;
}

float ReorderingTolerance(const runtime::ModelConfig& c,
                          absl::Span<const float> row_logits) {
  float scale = 1.0f;
  for (float v : row_logits) scale = std::max(scale, std::abs(v));
  const float n = static_cast<float>(std::max(c.dim, c.hidden_dim));
  return static_cast<float>(c.n_layers) * n * FLT_EPSILON * scale;
}

}  // namespace headroom::testing
