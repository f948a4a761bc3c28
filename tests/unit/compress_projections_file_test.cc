// Projection files: round trip, and every file that must be refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "compress/apply.h"
#include "compress/projections_file.h"
#include "runtime/weights/hf_checkpoint.h"
#include "runtime/weights/safetensors.h"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::compress {
namespace {

using ::testing::HasSubstr;

namespace t = ::headroom::testing;

// The embedded model (headroom-tiny: 8 KV heads, 2 layers) calibrated on
// the tests/data text: runs without ../shared.
class ProjectionsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = testing::LoadShared(t::EmbeddedModelPath());
    ASSERT_EQ(model_.weights.config.n_kv_heads, 8);
    stats_ = testing::CalibrateOn(
        model_, testing::Lines(t::EmbeddedTextPath(), t::kEmbeddedCalibFirst,
                               t::kEmbeddedCalibLast));
    dir_ = t::MakeTempDir("proj");
  }
  testing::LoadedModel model_;
  CalibrationStats stats_;
  std::string dir_;
};

TEST_F(ProjectionsFileTest, RoundTrip) {
  const Projections p = testing::Compress(model_, stats_, "svd-a+refit", 2);
  const std::string path = dir_ + "/p.safetensors";
  ASSERT_TRUE(SaveProjections(p, path).ok());
  auto back = LoadProjections(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->method, "svd-a+refit");
  EXPECT_EQ(back->model_digest, p.model_digest);
  EXPECT_EQ(back->calibration_digest, stats_.text_digest);
  EXPECT_EQ(back->calibration_tokens, stats_.tokens);
  EXPECT_EQ(back->KvHeadsPerLayer(), p.KvHeadsPerLayer());
  ASSERT_EQ(back->layers.size(), p.layers.size());
  for (size_t l = 0; l < p.layers.size(); ++l) {
    EXPECT_EQ(back->layers[l].key_encoder, p.layers[l].key_encoder);
    EXPECT_EQ(back->layers[l].query_decoder, p.layers[l].query_decoder);
    EXPECT_EQ(back->layers[l].value_encoder, p.layers[l].value_encoder);
    EXPECT_EQ(back->layers[l].value_decoder, p.layers[l].value_decoder);
    EXPECT_EQ(back->layers[l].wo, p.layers[l].wo);
    EXPECT_EQ(back->layers[l].key_mode, p.layers[l].key_mode);
    EXPECT_DOUBLE_EQ(back->layers[l].key_energy, p.layers[l].key_energy);
  }
  runtime::ModelWeights w = model_.weights;
  EXPECT_TRUE(ApplyProjections(*back, &w).ok());
}

// The shipped projections of the embedded model, written again by
// SaveProjections (with the tensor digest), into `dir`.
std::string RewrittenShippedProjections(const std::string& dir) {
  const std::string shipped = ::headroom::testing::EmbeddedModelPath() +
                              "/projections-svd-a-kv4.safetensors";
  auto p = LoadProjections(shipped);
  EXPECT_TRUE(p.ok()) << p.status();
  if (!p.ok()) return "";
  const std::string path = dir + "/p.safetensors";
  EXPECT_TRUE(SaveProjections(*p, path).ok());
  return path;
}

// One flipped bit in a tensor's data (the file's last byte, inside the last
// tensor) is refused by the tensor digest, naming the file.
TEST(ProjectionsDigestTest, FlippedByteInATensorIsRefused) {
  const std::string dir = ::headroom::testing::MakeTempDir("digest");
  const std::string path = RewrittenShippedProjections(dir);
  ASSERT_FALSE(path.empty());
  auto intact = LoadProjections(path);
  ASSERT_TRUE(intact.ok()) << intact.status();
  EXPECT_TRUE(intact->content_digest_checked);
  std::string bytes = ::headroom::testing::ReadTextFile(path);
  bytes.back() ^= 0x01;  // the lowest mantissa bit of the last value
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  auto corrupt = LoadProjections(path);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_TRUE(absl::IsDataLoss(corrupt.status())) << corrupt.status();
  EXPECT_THAT(std::string(corrupt.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(corrupt.status().message()),
              HasSubstr("do not match the file's tensor_sha256"));
}

// The shipped file carries the digest: the SHA-256 that Python's hashlib
// gives over (name, 0, "d0,d1,...,", 0, fp32 bytes) of its tensors in save
// order (layer by layer: key_encoder, query_decoder, value_encoder,
// value_decoder), and SaveProjections reproduces the file byte for byte.
TEST(ProjectionsDigestTest, ShippedFileHasTheDigest) {
  const std::string shipped = ::headroom::testing::EmbeddedModelPath() +
                              "/projections-svd-a-kv4.safetensors";
  auto file = runtime::SafetensorsFile::Open(shipped);
  ASSERT_TRUE(file.ok()) << file.status();
  const auto& meta = file->header().metadata;
  ASSERT_EQ(meta.count("tensor_sha256"), 1u);
  EXPECT_EQ(meta.find("tensor_sha256")->second,
            "7ac1658406e321e396bf117182194f892135c3e36b0296ddd5a673b9f3914f47");
  auto p = LoadProjections(shipped);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->content_digest_checked);
  const std::string dir = ::headroom::testing::MakeTempDir("shipped");
  const std::string again =
      ::headroom::testing::ReadTextFile(RewrittenShippedProjections(dir));
  EXPECT_TRUE(again == ::headroom::testing::ReadTextFile(shipped))
      << "rewritten: " << again.size() << " bytes";
}

TEST_F(ProjectionsFileTest, TruncatedFileIsRefused) {
  const std::string path = dir_ + "/p.safetensors";
  ASSERT_TRUE(
      SaveProjections(testing::Compress(model_, stats_, "svd-a", 2), path)
          .ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  auto back = LoadProjections(path);
  EXPECT_FALSE(back.ok());
  EXPECT_THAT(back.status().message(), HasSubstr(path));
}

TEST_F(ProjectionsFileTest, FileForAnotherModelIsRefused) {
  const Projections p = testing::Compress(model_, stats_, "svd-a", 2);
  // Another shape: the model merged to an ordinary 4-KV-head checkpoint.
  runtime::ModelWeights gqa = model_.weights;
  ASSERT_TRUE(
      ApplyProjections(testing::Compress(model_, stats_, "mean-pool", 4), &gqa)
          .ok());
  const std::string gqa_dir = dir_ + "/gqa";
  ASSERT_TRUE(runtime::WriteHfCheckpoint(gqa, gqa_dir).ok());
  auto other = runtime::LoadHfCheckpoint(gqa_dir);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_EQ(other->config.n_kv_heads, 4);
  auto s = ApplyProjections(p, &*other);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("n_kv_heads = 8; this model has 4"));
  // Same shape, other weights: the digest says so.
  runtime::ModelWeights tweaked = model_.weights;
  tweaked.layers[1].w1.MutableF32()[7] += 0.5f;
  s = ApplyProjections(p, &tweaked);
  EXPECT_THAT(s.message(), HasSubstr("made for model digest"));
  EXPECT_EQ(tweaked.layers[1].wv.rows(), model_.weights.layers[1].wv.rows())
      << "a refused file must leave the weights untouched";
}

TEST_F(ProjectionsFileTest, KvHeadsThatDoNotDivideAreRefused) {
  Projections p = testing::Compress(model_, stats_, "svd-a", 2);
  const std::string path = dir_ + "/p.safetensors";
  ASSERT_TRUE(SaveProjections(p, path).ok());
  // Rewrite the metadata's kv_heads of layer 1 from 2 to 3 in place (same
  // length, so the header stays valid).
  std::string bytes = ::headroom::testing::ReadTextFile(path);
  const std::string needle = "\\\"kv_heads\\\":2";
  size_t pos = bytes.find(needle);
  pos = bytes.find(needle, pos + 1);
  ASSERT_NE(pos, std::string::npos);
  bytes[pos + needle.size() - 1] = '3';
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  auto back = LoadProjections(path);
  EXPECT_FALSE(back.ok());
  EXPECT_THAT(
      back.status().message(),
      HasSubstr("layers[1].kv_heads = 3 does not divide n_kv_heads = 8"));
}

TEST_F(ProjectionsFileTest, NonCommutingPreRopeKeysAreRefused) {
  Projections p = testing::Compress(model_, stats_, "svd-a", 2);
  p.layers[0].key_mode = KeyMode::kPreRope;  // svd-a's P does not commute
  runtime::ModelWeights w = model_.weights;
  auto s = ApplyProjections(p, &w);
  EXPECT_THAT(s.message(), HasSubstr("does not commute with RoPE"));
}

TEST(ProjectionsFileErrorsTest, NotAProjectionsFile) {
  auto r = LoadProjections("/nonexistent/p.safetensors");
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("/nonexistent/p.safetensors"));
}

}  // namespace
}  // namespace headroom::compress
