// The embedded default model (models/headroom-tiny, trained by
// tools/train_default_model.py): it loads as a Hugging Face checkpoint with
// its SentencePiece tokenizer, our runtime reproduces the trainer's held-out
// loss, its committed projections compress it 8 -> 4 KV heads on load, and
// the compressed model still writes prose.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>

#include "compress/apply.h"
#include "compress/perplexity.h"
#include "compress/projections_file.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/weights/model_loader.h"
#include "server/engine/engine.h"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::compress {
namespace {

const std::string& ModelDir() {
  static const std::string* dir = new std::string(
      std::string(HEADROOM_SOURCE_DIR) + "/models/headroom-tiny");
  return *dir;
}

std::string GreedyStory(runtime::ModelWeights weights,
                        std::shared_ptr<const runtime::Tokenizer> tokenizer) {
  auto backend = runtime::CreateCpuBackend(std::move(weights), {});
  EXPECT_TRUE(backend.ok()) << backend.status();
  auto engine = server::Engine::Create(std::move(*backend), tokenizer, {});
  EXPECT_TRUE(engine.ok());
  server::GenerateRequest r;
  r.prompt = "Once upon a time";
  r.max_tokens = 48;
  r.sampling.temperature = 0.0f;
  std::string text;
  EXPECT_TRUE(
      (*engine)
          ->Submit(r, [&text](const server::EngineEvent& e) { text += e.text; })
          .ok());
  while ((*engine)->HasWork()) EXPECT_TRUE((*engine)->Step().ok());
  return text;
}

// Share of letters, spaces and common punctuation: English prose is ~100%.
double ProseShare(const std::string& s) {
  int ok = 0;
  for (unsigned char c : s) {
    ok += std::isalpha(c) || c == ' ' || c == '.' || c == ',' || c == '"' ||
          c == '\'' || c == '!' || c == '?' || c == '\n';
  }
  return s.empty() ? 0.0 : static_cast<double>(ok) / s.size();
}

TEST(DefaultModelTest, LoadsCompressesOnLoadAndGenerates) {
  auto weights = runtime::LoadModel(ModelDir());
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->config.n_kv_heads, weights->config.n_heads) << "MHA";
  EXPECT_GE(weights->config.n_heads, 8);
  EXPECT_GE(weights->config.head_dim, 16);
  auto tok = runtime::LoadTokenizer(ModelDir() + "/tokenizer.model",
                                    weights->config.vocab_size);
  ASSERT_TRUE(tok.ok()) << tok.status();
  std::shared_ptr<const runtime::Tokenizer> tokenizer(std::move(*tok));

  const std::string original = GreedyStory(*weights, tokenizer);
  EXPECT_GT(original.size(), 60u);
  EXPECT_GT(ProseShare(original), 0.95) << original;

  auto projections =
      LoadProjections(ModelDir() + "/projections-svd-a-kv4.safetensors");
  ASSERT_TRUE(projections.ok()) << projections.status();
  runtime::ModelWeights compressed = *weights;
  ASSERT_TRUE(ApplyProjections(*projections, &compressed).ok());
  for (int l = 0; l < compressed.config.n_layers; ++l) {
    EXPECT_EQ(compressed.config.CacheKvHeads(l), weights->config.n_heads / 2);
  }
  const std::string story = GreedyStory(std::move(compressed), tokenizer);
  EXPECT_GT(story.size(), 60u);
  EXPECT_GT(ProseShare(story), 0.95) << story;
}

// Our runtime on the held-out lines gives the trainer's own held-out loss
// (training.json): the export, the HF loader and the SentencePiece path
// agree with PyTorch; and the model is far below the unigram baseline.
TEST(DefaultModelTest, HeldOutLossMatchesTheTrainer) {
  HEADROOM_REQUIRE_SHARED(text, "data/tinystories_val.txt");
  const auto card =
      ::headroom::testing::ReadJsonFile(ModelDir() + "/training.json");
  const int first = card["train_lines"].get<int>() + 1;
  const int last = first + card["heldout_lines"].get<int>() - 1;
  testing::LoadedModel m = testing::LoadShared(ModelDir());
  const auto lines = testing::Lines(text, first, last);
  auto backend = runtime::CreateCpuBackend(m.weights, {});
  ASSERT_TRUE(backend.ok());
  auto r = EvaluatePerplexity(**backend, *m.tokenizer, lines);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->predicted_tokens, card["heldout_tokens"].get<int64_t>());
  EXPECT_NEAR(r->nll_per_token(), card["heldout_loss"].get<double>(), 1e-3);
  EXPECT_LT(r->perplexity(),
            card["unigram_heldout_perplexity"].get<double>() / 4);
}

}  // namespace
}  // namespace headroom::compress
