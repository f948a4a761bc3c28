// llama2.c checkpoint loading: the real model, a round trip, and bad files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "runtime/weights/llama2c_checkpoint.h"
#include "tests/test_support.h"

namespace headroom::runtime {
namespace {

using ::testing::HasSubstr;

TEST(Llama2cCheckpointTest, LoadsStories260K) {
  HEADROOM_REQUIRE_SHARED(path, "models/stories260K/stories260K.bin");
  auto w = LoadLlama2cCheckpoint(path);
  ASSERT_TRUE(w.ok()) << w.status();
  const ModelConfig& c = w->config;
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_seq_len, 512);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.rope_style, RopeStyle::kInterleaved);
}

TEST(Llama2cCheckpointTest, RoundTripIsByteIdenticalForUntiedClassifier) {
  HEADROOM_REQUIRE_SHARED(path, "models/stories260K/stories260K.bin");
  auto w = LoadLlama2cCheckpoint(path);
  ASSERT_TRUE(w.ok());
  w->config.tied_embeddings = false;
  w->wcls = w->token_embedding;
  w->wcls.MutableF32()[3] += 1.0f;
  const std::string out =
      ::headroom::testing::MakeTempDir("rt") + "/untied.bin";
  ASSERT_TRUE(WriteLlama2cCheckpoint(*w, out).ok());
  auto back = LoadLlama2cCheckpoint(out);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->config.tied_embeddings);
  EXPECT_EQ(back->wcls.ToFloat(), w->wcls.ToFloat());
  EXPECT_EQ(back->layers[4].w2.ToFloat(), w->layers[4].w2.ToFloat());
  EXPECT_EQ(back->token_embedding.ToFloat(), w->token_embedding.ToFloat());
}

class BadCheckpointTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string p = ::headroom::testing::MakeTempDir("bad") + "/" + name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  static std::string Header(std::vector<int32_t> h) {
    return std::string(reinterpret_cast<const char*>(h.data()),
                       h.size() * sizeof(int32_t));
  }
};

TEST_F(BadCheckpointTest, MissingFile) {
  auto w = LoadLlama2cCheckpoint("/nonexistent/model.bin");
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(w.status().message(), HasSubstr("/nonexistent/model.bin"));
}

TEST_F(BadCheckpointTest, ShorterThanHeader) {
  auto w = LoadLlama2cCheckpoint(Write("short.bin", "abc"));
  EXPECT_THAT(w.status().message(), HasSubstr("shorter than the 28-byte"));
}

TEST_F(BadCheckpointTest, HeaderSizesDoNotMatchFileSize) {
  auto w = LoadLlama2cCheckpoint(
      Write("mismatch.bin",
            Header({64, 172, 5, 8, 4, 512, 512}) + std::string(1000, '\0')));
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(w.status().message(), HasSubstr("implies"));
  EXPECT_THAT(w.status().message(), HasSubstr("the file has 1028"));
}

TEST_F(BadCheckpointTest, TruncatedRealModel) {
  HEADROOM_REQUIRE_SHARED(path, "models/stories260K/stories260K.bin");
  std::string bytes = ::headroom::testing::ReadTextFile(path);
  bytes.resize(bytes.size() / 2);
  auto w = LoadLlama2cCheckpoint(Write("half.bin", bytes));
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(w.status().message(), HasSubstr("implies"));
}

TEST_F(BadCheckpointTest, NonsenseHeader) {
  auto w = LoadLlama2cCheckpoint(
      Write("neg.bin", Header({64, 172, -5, 8, 4, 512, 512})));
  EXPECT_THAT(w.status().message(), HasSubstr("n_layers must be positive"));
  auto w2 = LoadLlama2cCheckpoint(
      Write("kv.bin", Header({64, 172, 5, 8, 3, 512, 512})));
  EXPECT_THAT(w2.status().message(), HasSubstr("n_kv_heads (3)"));
  auto w3 = LoadLlama2cCheckpoint(
      Write("dim.bin", Header({65, 172, 5, 8, 4, 512, 512})));
  EXPECT_THAT(w3.status().message(), HasSubstr("not a multiple of n_heads"));
}

}  // namespace
}  // namespace headroom::runtime
