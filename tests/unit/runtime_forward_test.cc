// The CPU forward pass against the llama2.c reference (../shared/testdata),
// and against itself (chunked, batched) on the embedded headroom-tiny model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "runtime/cpu/cpu_backend.h"
#include "runtime/sequence_runner.h"
#include "runtime/tokenizers/tokenizer.h"
#include "runtime/weights/hf_checkpoint.h"
#include "runtime/weights/llama2c_checkpoint.h"
#include "runtime/weights/model_loader.h"
#include "tests/test_support.h"

namespace headroom::runtime {
namespace {

using ::headroom::testing::GreedyTokens;
using ::headroom::testing::ReadJsonFile;
using ::headroom::testing::ReorderingTolerance;

// A paragraph long enough for several prefill chunks and pages.
constexpr char kStory[] =
    "Once upon a time, there was a little girl named Lily. She loved to play "
    "outside in the park with her friends. One day, she saw a big red ball "
    "under a tree. She ran to get it, but a dog took it first. Lily was sad, "
    "so her mom gave her a hug and they went home to bake cookies.";

std::unique_ptr<Backend> MakeBackend(const std::string& path,
                                     BackendOptions options = {}) {
  auto weights = LoadLlama2cCheckpoint(path);
  EXPECT_TRUE(weights.ok()) << weights.status();
  auto backend = CreateCpuBackend(std::move(*weights), options);
  EXPECT_TRUE(backend.ok()) << backend.status();
  return std::move(*backend);
}

// The embedded model (models/headroom-tiny) and the ids of `text` under its
// own tokenizer: for tests that compare the runtime with itself.
struct EmbeddedModel {
  ModelWeights weights;
  std::vector<int> ids;
};

EmbeddedModel LoadEmbedded(const std::string& text,
                           const std::string& weights_dtype = "auto") {
  const std::string dir = ::headroom::testing::EmbeddedModelPath();
  LoadOptions load;
  load.weights_dtype = *ParseWeightsDtypeOption(weights_dtype);
  auto weights = LoadModel(dir, load);
  EXPECT_TRUE(weights.ok()) << weights.status();
  if (!weights.ok()) return {};
  auto tokenizer =
      LoadTokenizer(dir + "/tokenizer.model", weights->config.vocab_size);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  if (!tokenizer.ok()) return {};
  return {std::move(*weights), (*tokenizer)->Encode(text, true)};
}

// Every logit of `actual` within ReorderingTolerance of `expected`, row by
// row ([rows][vocab] each); the first failure names the row and the token.
void ExpectSameUpToReordering(const ModelConfig& c, const float* actual,
                              const float* expected, int rows,
                              const std::string& what) {
  const int vocab = c.vocab_size;
  for (int r = 0; r < rows; ++r) {
    const absl::Span<const float> want(expected + int64_t{r} * vocab, vocab);
    const float tolerance = ReorderingTolerance(c, want);
    for (int v = 0; v < vocab; ++v) {
      const float got = actual[int64_t{r} * vocab + v];
      if (!(std::abs(got - want[v]) <= tolerance)) {
        ADD_FAILURE() << what << " row " << r << " token " << v << ": " << got
                      << " vs " << want[v] << " (tolerance " << tolerance
                      << ")";
        return;
      }
    }
  }
}

// `actual` has the same bits as `expected` ([rows][vocab] each): the CPU
// backend is batch invariant (runtime/cpu/matmul.h), so a sequence's logits
// do not depend on what shares its batch or how its prompt is chunked.
void ExpectBitIdentical(const ModelConfig& c, const float* actual,
                        const float* expected, int rows,
                        const std::string& what) {
  const int vocab = c.vocab_size;
  for (int r = 0; r < rows; ++r) {
    if (std::memcmp(actual + int64_t{r} * vocab, expected + int64_t{r} * vocab,
                    vocab * sizeof(float)) != 0) {
      for (int v = 0; v < vocab; ++v) {
        const float got = actual[int64_t{r} * vocab + v];
        const float want = expected[int64_t{r} * vocab + v];
        if (std::memcmp(&got, &want, sizeof(float)) != 0) {
          ADD_FAILURE() << what << " row " << r << " token " << v << ": " << got
                        << " vs " << want << " (not bit-identical)";
          return;
        }
      }
    }
  }
}

// Teacher-forced logits of the reference prompt, [positions][vocab].
std::vector<std::vector<float>> ReferenceLogits(const nlohmann::json& ref) {
  return ref["logits"].get<std::vector<std::vector<float>>>();
}

// The reference (llama2.c's run.c, naive loops) sums in another order than
// BLAS does: the logits agree to ReorderingTolerance, not exactly.
void ExpectLogitsMatch(Backend& backend, const nlohmann::json& ref,
                       int chunk = 0) {
  const std::vector<int> ids = ref["tokens"].get<std::vector<int>>();
  const auto expected = ReferenceLogits(ref);
  SequenceRunner runner(&backend, chunk);
  std::vector<float> logits;
  ASSERT_TRUE(runner.Append(ids, /*all_logits=*/true, &logits).ok());
  const int vocab = backend.config().vocab_size;
  ASSERT_EQ(logits.size(), ids.size() * vocab);
  for (size_t pos = 0; pos < ids.size(); ++pos) {
    ASSERT_EQ(expected[pos].size(), static_cast<size_t>(vocab));
    float worst = 0.0f;
    for (int v = 0; v < vocab; ++v) {
      worst =
          std::max(worst, std::abs(logits[pos * vocab + v] - expected[pos][v]));
    }
    EXPECT_LE(worst, ReorderingTolerance(backend.config(), expected[pos]))
        << "position " << pos;
  }
}

TEST(ForwardTest, LogitsMatchReference) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(ref, "testdata/stories260K_logits.json");
  auto backend = MakeBackend(model);
  ExpectLogitsMatch(*backend, ReadJsonFile(ref));
}

TEST(ForwardTest, Mha8LogitsMatchReference) {
  HEADROOM_REQUIRE_SHARED(model,
                          "models/stories260K-mha8/stories260K_mha8.bin");
  HEADROOM_REQUIRE_SHARED(ref, "testdata/stories260K_logits.json");
  auto backend = MakeBackend(model);
  ExpectLogitsMatch(*backend, ReadJsonFile(ref));
}

TEST(ForwardTest, ChunkedPrefillMatchesReference) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(ref, "testdata/stories260K_logits.json");
  BackendOptions options;
  options.block_size = 4;  // chunks of 7 straddle page boundaries
  options.num_threads = 2;
  auto backend = MakeBackend(model, options);
  ExpectLogitsMatch(*backend, ReadJsonFile(ref), /*chunk=*/7);
}

// The batch-invariance tests run for every weight dtype (auto is the
// checkpoint's fp32, mapped in place).
class ForwardDtypeTest : public ::testing::TestWithParam<std::string> {
 protected:
  EmbeddedModel Load() {
    EmbeddedModel model = LoadEmbedded(kStory, GetParam());
    const WeightDtype want = GetParam() == "auto"
                                 ? WeightDtype::kF32
                                 : *ParseWeightDtype(GetParam());
    EXPECT_EQ(model.weights.layers[0].w2.dtype(), want);
    EXPECT_EQ(model.weights.token_embedding.dtype(), want);
    return model;
  }
};

INSTANTIATE_TEST_SUITE_P(WeightDtypes, ForwardDtypeTest,
                         ::testing::Values("auto", "f16", "bf16", "q8_0"));

// Prefill in chunks of 7 tokens gives the unchunked logits, bit for bit.
TEST_P(ForwardDtypeTest, ChunkedPrefillMatchesUnchunked) {
  EmbeddedModel model = Load();
  ASSERT_GT(model.ids.size(), 50u);
  const std::vector<int> ids = model.ids;
  auto backend = CreateCpuBackend(std::move(model.weights), {});
  ASSERT_TRUE(backend.ok());
  std::vector<float> whole, chunked;
  SequenceRunner one_step(backend->get());
  ASSERT_TRUE(one_step.Append(ids, true, &whole).ok());
  SequenceRunner sevens(backend->get(), /*chunk_size=*/7);
  ASSERT_TRUE(sevens.Append(ids, true, &chunked).ok());
  ASSERT_EQ(whole.size(), chunked.size());
  ExpectBitIdentical((*backend)->config(), chunked.data(), whole.data(),
                     static_cast<int>(ids.size()), "chunked");
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
// logits as each alone, bit for bit.
TEST(ForwardTest, RaggedBatchMatchesSingleSequences) {
  EmbeddedModel model = LoadEmbedded(kStory);
  ASSERT_GT(model.ids.size(), 30u);
  BackendOptions options;
  options.block_size = 4;
  options.num_blocks = 16;
  options.num_threads = 2;
  auto created = CreateCpuBackend(std::move(model.weights), options);
  ASSERT_TRUE(created.ok()) << created.status();
  Backend& backend = **created;
  const ModelConfig& c = backend.config();
  const int vocab = c.vocab_size;
  const std::vector<int> a(model.ids.begin(), model.ids.begin() + 27);
  const std::vector<int> b(model.ids.begin() + 3, model.ids.begin() + 12);

  std::vector<float> alone_a, alone_b;
  SequenceRunner runner(&backend);
  ASSERT_TRUE(runner.Append(a, true, &alone_a).ok());
  runner.Reset();
  ASSERT_TRUE(runner.Append(b, true, &alone_b).ok());

  // a: 10 tokens then 17 more (7 pages of 4), b: 9 tokens (3 pages).
  Batch batch;
  batch.block_tables = {{1, 3, 5, 7, 9, 11, 13}, {2, 4, 6}};
  batch.AddTokens(0, a.data(), 10, 0, false, true);
  batch.AddTokens(1, b.data(), 9, 0, false, true);
  std::vector<float> first;
  ASSERT_TRUE(backend.Forward(batch, &first).ok());
  Batch step2;
  step2.block_tables = batch.block_tables;
  step2.AddTokens(0, a.data() + 10, static_cast<int>(a.size()) - 10, 10, false,
                  true);
  std::vector<float> second;
  ASSERT_TRUE(backend.Forward(step2, &second).ok());

  ExpectBitIdentical(c, first.data(), alone_a.data(), 10, "a");
  ExpectBitIdentical(c, &first[int64_t{10} * vocab], alone_b.data(), 9, "b");
  ExpectBitIdentical(c, second.data(), &alone_a[int64_t{10} * vocab],
                     static_cast<int>(a.size()) - 10, "a step 2");
}

// 32 ragged sequences (prompts of 1..32 tokens at different offsets, pages
// shuffled across sequences) prefilled in one batch, then one decode step
// each in one batch: every row of logits is bit-identical to the sequence
// run alone on a backend of its own.
TEST_P(ForwardDtypeTest, ThirtyTwoRaggedSequencesAreBatchInvariant) {
  EmbeddedModel alone_model = Load();
  EmbeddedModel batch_model = Load();
  const std::vector<int> ids = alone_model.ids;
  ASSERT_GT(ids.size(), 64u);
  BackendOptions options;
  options.block_size = 4;
  options.num_blocks = 32 * 9;
  options.num_threads = 2;
  auto alone = CreateCpuBackend(std::move(alone_model.weights), options);
  auto batched = CreateCpuBackend(std::move(batch_model.weights), options);
  ASSERT_TRUE(alone.ok() && batched.ok());
  const ModelConfig& c = (*alone)->config();
  const int vocab = c.vocab_size;

  Batch prefill, decode;
  std::vector<std::vector<int>> prompts;
  for (int s = 0; s < 32; ++s) {
    const int len = 1 + (s * 13) % 32, offset = (s * 7) % 30;
    prompts.emplace_back(ids.begin() + offset, ids.begin() + offset + len);
    // Pages interleaved across sequences: page p of sequence s is 32 p + s.
    std::vector<int> table;
    for (int p = 0; p < 9; ++p) table.push_back(32 * p + s);
    prefill.block_tables.push_back(table);
    prefill.AddTokens(s, prompts[s].data(), len, 0, false, true);
  }
  decode.block_tables = prefill.block_tables;
  std::vector<int> next(32);
  for (int s = 0; s < 32; ++s) {
    next[s] = ids[40 + s];
    decode.AddTokens(s, &next[s], 1, static_cast<int>(prompts[s].size()), true);
  }
  std::vector<float> prefill_logits, decode_logits;
  ASSERT_TRUE((*batched)->Forward(prefill, &prefill_logits).ok());
  ASSERT_TRUE((*batched)->Forward(decode, &decode_logits).ok());

  int64_t row = 0;
  for (int s = 0; s < 32; ++s) {
    SequenceRunner runner(alone->get());
    std::vector<float> want, want_next;
    ASSERT_TRUE(runner.Append(prompts[s], true, &want).ok());
    ASSERT_TRUE(runner.Append({next[s]}, false, &want_next).ok());
    const int len = static_cast<int>(prompts[s].size());
    ExpectBitIdentical(c, &prefill_logits[row * vocab], want.data(), len,
                       "prefill of sequence " + std::to_string(s));
    ExpectBitIdentical(c, &decode_logits[int64_t{s} * vocab], want_next.data(),
                       1, "decode of sequence " + std::to_string(s));
    row += len;
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
  // The two pairings sum each q.k in a different coordinate order.
  ExpectSameUpToReordering((*backend_a)->config(), b.data(), a.data(),
                           static_cast<int>(ids.size()), "converted");
}

TEST(ForwardTest, InvalidBatchIsRejected) {
  EmbeddedModel model = LoadEmbedded("");
  const int context = model.weights.config.max_seq_len;
  BackendOptions options;
  options.num_blocks = 4;
  auto created = CreateCpuBackend(std::move(model.weights), options);
  ASSERT_TRUE(created.ok()) << created.status();
  Backend* backend = created->get();
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
  past_context.AddTokens(0, &ok_id, 1, context, true);
  EXPECT_THAT(backend->Forward(past_context, &logits).message(),
              ::testing::HasSubstr("outside the context"));
}

}  // namespace
}  // namespace headroom::runtime
