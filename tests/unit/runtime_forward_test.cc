// The CPU forward pass against the llama2.c reference (../shared/testdata).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/cpu/cpu_backend.h"
#include "runtime/hf_checkpoint.h"
#include "runtime/llama2c_checkpoint.h"
#include "runtime/sequence_runner.h"
#include "runtime/tokenizer.h"
#include "tests/test_support.h"

namespace headroom::runtime {
namespace {

using ::headroom::testing::GreedyTokens;
using ::headroom::testing::ReadJsonFile;

std::unique_ptr<Backend> MakeBackend(const std::string& path,
                                     BackendOptions options = {}) {
  auto weights = LoadLlama2cCheckpoint(path);
  EXPECT_TRUE(weights.ok()) << weights.status();
  auto backend = CreateCpuBackend(std::move(*weights), options);
  EXPECT_TRUE(backend.ok()) << backend.status();
  return std::move(*backend);
}

// Teacher-forced logits of the reference prompt, [positions][vocab].
std::vector<std::vector<float>> ReferenceLogits(const nlohmann::json& ref) {
  return ref["logits"].get<std::vector<std::vector<float>>>();
}

void ExpectLogitsMatch(Backend& backend, const nlohmann::json& ref,
                       float tolerance, int chunk = 0) {
  const std::vector<int> ids = ref["tokens"].get<std::vector<int>>();
  const auto expected = ReferenceLogits(ref);
  SequenceRunner runner(&backend, chunk);
  std::vector<float> logits;
  ASSERT_TRUE(runner.Append(ids, /*all_logits=*/true, &logits).ok());
  const int vocab = backend.config().vocab_size;
  ASSERT_EQ(logits.size(), ids.size() * vocab);
  for (size_t pos = 0; pos < ids.size(); ++pos) {
    float worst = 0.0f;
    for (int v = 0; v < vocab; ++v) {
      worst =
          std::max(worst, std::abs(logits[pos * vocab + v] - expected[pos][v]));
    }
    EXPECT_LE(worst, tolerance) << "position " << pos;
  }
}

TEST(ForwardTest, LogitsMatchReference) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(ref, "testdata/stories260K_logits.json");
  auto backend = MakeBackend(model);
  ExpectLogitsMatch(*backend, ReadJsonFile(ref), 1e-4f);
}

TEST(ForwardTest, Mha8LogitsMatchReference) {
  HEADROOM_REQUIRE_SHARED(model,
                          "models/stories260K-mha8/stories260K_mha8.bin");
  HEADROOM_REQUIRE_SHARED(ref, "testdata/stories260K_logits.json");
  auto backend = MakeBackend(model);
  ExpectLogitsMatch(*backend, ReadJsonFile(ref), 1e-4f);
}

TEST(ForwardTest, ChunkedPrefillMatchesReference) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(ref, "testdata/stories260K_logits.json");
  BackendOptions options;
  options.block_size = 4;  // chunks of 7 straddle page boundaries
  options.num_threads = 2;
  auto backend = MakeBackend(model, options);
  ExpectLogitsMatch(*backend, ReadJsonFile(ref), 1e-4f, /*chunk=*/7);
}

// Prefill in chunks of 7 tokens gives the unchunked logits to 1e-5 of the
// row's largest logit (different GEMM shapes round differently).
TEST(ForwardTest, ChunkedPrefillMatchesUnchunked) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(text, "data/tinystories_val.txt");
  auto weights = LoadLlama2cCheckpoint(model);
  ASSERT_TRUE(weights.ok());
  auto tokenizer = LoadTokenizer(*FindTokenizerFor(model), 512);
  ASSERT_TRUE(tokenizer.ok());
  const std::string line =
      ::headroom::testing::ReadTextFile(text).substr(0, 600);
  const std::vector<int> ids = (*tokenizer)->Encode(line, true);
  ASSERT_GT(ids.size(), 50u);
  auto backend = CreateCpuBackend(std::move(*weights), {});
  ASSERT_TRUE(backend.ok());
  std::vector<float> whole, chunked;
  SequenceRunner one_step(backend->get());
  ASSERT_TRUE(one_step.Append(ids, true, &whole).ok());
  SequenceRunner sevens(backend->get(), /*chunk_size=*/7);
  ASSERT_TRUE(sevens.Append(ids, true, &chunked).ok());
  ASSERT_EQ(whole.size(), chunked.size());
  // fp32 rounding scales with the summands, so the bound is relative to the
  // largest logit of the row.
  const int vocab = (*backend)->config().vocab_size;
  for (size_t row = 0; row < ids.size(); ++row) {
    float scale = 1.0f;
    for (int v = 0; v < vocab; ++v) {
      scale = std::max(scale, std::abs(whole[row * vocab + v]));
    }
    for (int v = 0; v < vocab; ++v) {
      ASSERT_NEAR(chunked[row * vocab + v], whole[row * vocab + v],
                  1e-5f * scale)
          << "position " << row << " token " << v;
    }
  }
}

TEST(ForwardTest, GreedyFromBosMatchesReference) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(ref_path, "testdata/stories260K_greedy_bos.json");
  const auto ref = ReadJsonFile(ref_path);
  const auto expected = ref["generated_tokens"].get<std::vector<int>>();
  auto backend = MakeBackend(model);
  EXPECT_EQ(GreedyTokens(*backend, ref["prompt_tokens"].get<std::vector<int>>(),
                         static_cast<int>(expected.size())),
            expected);
}

TEST(ForwardTest, GreedyContinuationMatchesReference) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(ref_path, "testdata/stories260K_greedy_max.json");
  const auto ref = ReadJsonFile(ref_path);
  const auto expected = ref["generated_tokens"].get<std::vector<int>>();
  auto backend = MakeBackend(model);
  EXPECT_EQ(GreedyTokens(*backend, ref["prompt_tokens"].get<std::vector<int>>(),
                         static_cast<int>(expected.size())),
            expected);
}

// Two sequences with interleaved pages in one ragged batch give the same
// logits as each alone.
TEST(ForwardTest, RaggedBatchMatchesSingleSequences) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(ref_path, "testdata/stories260K_logits.json");
  const auto ids = ReadJsonFile(ref_path)["tokens"].get<std::vector<int>>();
  BackendOptions options;
  options.block_size = 4;
  options.num_blocks = 16;
  options.num_threads = 2;
  auto backend = MakeBackend(model, options);
  const int vocab = backend->config().vocab_size;
  const std::vector<int> a(ids.begin(), ids.end());
  const std::vector<int> b(ids.begin(), ids.begin() + 9);

  std::vector<float> alone_a, alone_b;
  SequenceRunner runner(backend.get());
  ASSERT_TRUE(runner.Append(a, true, &alone_a).ok());
  runner.Reset();
  ASSERT_TRUE(runner.Append(b, true, &alone_b).ok());

  Batch batch;
  batch.block_tables = {{1, 3, 5, 7}, {2, 4, 6}};
  batch.AddTokens(0, a.data(), 10, 0, false, true);
  batch.AddTokens(1, b.data(), 9, 0, false, true);
  std::vector<float> first;
  ASSERT_TRUE(backend->Forward(batch, &first).ok());
  Batch step2;
  step2.block_tables = batch.block_tables;
  step2.AddTokens(0, a.data() + 10, static_cast<int>(a.size()) - 10, 10, false,
                  true);
  std::vector<float> second;
  ASSERT_TRUE(backend->Forward(step2, &second).ok());

  // Different GEMM shapes round differently: 1e-5 relative to the logit.
  auto near = [&](const float* x, const float* y) {
    for (int v = 0; v < vocab; ++v) {
      if (std::abs(x[v] - y[v]) > 1e-5f * std::max(1.0f, std::abs(y[v]))) {
        ADD_FAILURE() << "logit " << v << ": " << x[v] << " vs " << y[v];
        return false;
      }
    }
    return true;
  };
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(near(&first[i * vocab], &alone_a[i * vocab])) << "a " << i;
  }
  for (int i = 0; i < 9; ++i) {
    EXPECT_TRUE(near(&first[(10 + i) * vocab], &alone_b[i * vocab]))
        << "b " << i;
  }
  for (size_t i = 10; i < a.size(); ++i) {
    EXPECT_TRUE(near(&second[(i - 10) * vocab], &alone_a[i * vocab]))
        << "a " << i;
  }
}

// llama2.c -> Hugging Face layout (rotate_half RoPE, permuted q/k rows) and
// back through the HF loader computes the same logits.
TEST(ForwardTest, ConvertedHuggingFaceModelGivesTheSameLogits) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(ref_path, "testdata/stories260K_logits.json");
  const auto ids = ReadJsonFile(ref_path)["tokens"].get<std::vector<int>>();
  auto original = LoadLlama2cCheckpoint(model);
  ASSERT_TRUE(original.ok());
  const std::string dir = ::headroom::testing::MakeTempDir("hf");
  ASSERT_TRUE(WriteHfCheckpoint(*original, dir).ok());
  auto converted = LoadHfCheckpoint(dir);
  ASSERT_TRUE(converted.ok()) << converted.status();
  ASSERT_EQ(converted->config.rope_style, RopeStyle::kHalf);

  std::vector<float> a, b;
  auto backend_a = CreateCpuBackend(std::move(*original), {});
  auto backend_b = CreateCpuBackend(std::move(*converted), {});
  ASSERT_TRUE(backend_a.ok() && backend_b.ok());
  SequenceRunner ra(backend_a->get()), rb(backend_b->get());
  ASSERT_TRUE(ra.Append(ids, true, &a).ok());
  ASSERT_TRUE(rb.Append(ids, true, &b).ok());
  ASSERT_EQ(a.size(), b.size());
  // 1e-5 relative to the logit's size (at least 1): the two pairings sum
  // each q.k in a different coordinate order, so fp32 rounding differs by
  // ~1e-6 relative on logits of size ~10.
  float worst = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) {
    worst =
        std::max(worst, std::abs(a[i] - b[i]) / std::max(1.0f, std::abs(a[i])));
  }
  EXPECT_LE(worst, 1e-5f);
}

TEST(ForwardTest, InvalidBatchIsRejected) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  BackendOptions options;
  options.num_blocks = 4;
  auto backend = MakeBackend(model, options);
  std::vector<float> logits;
  const int ok_id = 5, bad_id = 100000;
  Batch batch;
  batch.block_tables = {{0}};
  batch.AddTokens(0, &bad_id, 1, 0, true);
  EXPECT_THAT(backend->Forward(batch, &logits).message(),
              ::testing::HasSubstr("token_ids[0]"));
  Batch far;
  far.block_tables = {{0}};
  far.AddTokens(0, &ok_id, 1, 40, true);
  EXPECT_THAT(backend->Forward(far, &logits).message(),
              ::testing::HasSubstr("block_tables[0] has 1 blocks"));
  Batch bad_page;
  bad_page.block_tables = {{9}};
  bad_page.AddTokens(0, &ok_id, 1, 0, true);
  EXPECT_THAT(backend->Forward(bad_page, &logits).message(),
              ::testing::HasSubstr("outside the pool"));
  Batch past_context;
  past_context.block_tables = {{0}};
  past_context.AddTokens(0, &ok_id, 1, 512, true);
  EXPECT_THAT(backend->Forward(past_context, &logits).message(),
              ::testing::HasSubstr("outside the context"));
}

}  // namespace
}  // namespace headroom::runtime
