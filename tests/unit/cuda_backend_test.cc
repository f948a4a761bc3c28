// The CUDA backend against the fp32 CPU backend. Tests that need a GPU skip
// with a message when none is present (CI builds and links them; the GPU
// script scripts/gpu-check.sh runs them on a lent GPU, also under
// compute-sanitizer). The validation tests run everywhere.
#include "runtime/cuda/cuda_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "compress/apply.h"
#include "compress/projections_file.h"
#include "runtime/backend_factory.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/sequence_runner.h"
#include "runtime/weights/model_loader.h"
#include "server/engine/engine.h"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::runtime {
namespace {

using ::headroom::testing::GreedyTokens;
using ::testing::HasSubstr;

constexpr char kStories[] = "models/stories260K/stories260K.bin";
constexpr char kLogits[] = "testdata/stories260K_logits.json";
constexpr char kText[] = "data/tinystories_val.txt";

#define HEADROOM_REQUIRE_CUDA_DEVICE()                                 \
  if (CudaDeviceCount() == 0) {                                        \
    GTEST_SKIP() << "no CUDA device: this test runs on a GPU machine " \
                    "(scripts/gpu-check.sh)";                          \
  }

// A model of `config`'s shape with small random weights (host, fp32).
ModelWeights RandomWeights(const ModelConfig& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const float in_scale = 1.0f / std::sqrt(static_cast<float>(c.dim));
  auto fill = [&](int64_t rows, int64_t cols, float scale) {
    std::vector<float> v(rows * cols);
    for (float& x : v) x = u(rng) * scale;
    return Tensor::FromF32(std::move(v), rows, cols);
  };
  const int64_t D = c.dim, d = c.head_dim, h = c.n_heads, F = c.hidden_dim;
  ModelWeights w;
  w.config = c;
  w.token_embedding = fill(c.vocab_size, D, 1.0f);
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    const int64_t g = c.CacheKvHeads(l);
    lw.rms_att = std::vector<float>(D, 1.0f);
    lw.rms_ffn = std::vector<float>(D, 1.0f);
    lw.wq = fill(h * d, D, in_scale);
    lw.wk = fill(g * d, D, in_scale);
    lw.wv = fill(g * d, D, in_scale);
    lw.wo = fill(D, h * d, in_scale);
    lw.w1 = fill(F, D, in_scale);
    lw.w3 = fill(F, D, in_scale);
    lw.w2 = fill(D, F, 1.0f / std::sqrt(static_cast<float>(F)));
    w.layers.push_back(std::move(lw));
  }
  w.rms_final = std::vector<float>(D, 1.0f);
  return w;
}

ModelConfig SmallConfig(int head_dim, int max_seq_len) {
  ModelConfig c;
  c.dim = 128;
  c.hidden_dim = 256;
  c.n_layers = 2;
  c.n_heads = 128 / head_dim;
  c.n_kv_heads = c.n_heads;
  c.head_dim = head_dim;
  c.vocab_size = 320;
  c.max_seq_len = max_seq_len;
  return c;
}

// --- Everywhere: what is checked before any device is touched. -------------

TEST(CudaBackendValidationTest, HeadDimNotAMultipleOfEightIsRefused) {
  ModelConfig c = SmallConfig(16, 64);
  c.dim = 96;
  c.n_heads = 12;
  c.n_kv_heads = 12;
  c.head_dim = 6;  // h * d need not be D
  auto backend = CreateCudaBackend(RandomWeights(c, 1), {});
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(backend.status().message()),
              HasSubstr("head_dim must be a multiple of 8"));
}

TEST(CudaBackendValidationTest, BadOptionsAndWeightsNameTheField) {
  BackendOptions options;
  options.block_size = 0;
  auto bs = CreateCudaBackend(RandomWeights(SmallConfig(16, 64), 1), options);
  EXPECT_THAT(std::string(bs.status().message()), HasSubstr("block_size"));
  ModelWeights broken = RandomWeights(SmallConfig(16, 64), 1);
  broken.layers[1].wo =
      Tensor::FromF32(std::vector<float>(broken.layers[1].wo.numel() - 1),
                      broken.layers[1].wo.rows(), broken.layers[1].wo.cols());
  auto w = CreateCudaBackend(std::move(broken), {});
  EXPECT_FALSE(w.ok());
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("wo"));
}

TEST(CudaBackendValidationTest, NoDeviceIsAClearError) {
  if (CudaDeviceCount() > 0) {
    GTEST_SKIP() << "a CUDA device is present";
  }
  auto backend =
      CreateBackend(Device::kCuda, RandomWeights(SmallConfig(16, 64), 1), {});
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(backend.status().message()),
              HasSubstr("device: cuda was requested but no CUDA device"));
}

// --- On a GPU. ---------------------------------------------------------------

std::unique_ptr<Backend> Make(Device device, ModelWeights weights,
                              BackendOptions options = {}) {
  auto backend = CreateBackend(device, std::move(weights), options);
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? std::move(*backend) : nullptr;
}

std::vector<float> AllLogits(Backend& backend, const std::vector<int>& ids,
                             int chunk = 0) {
  SequenceRunner runner(&backend, chunk);
  std::vector<float> logits;
  EXPECT_TRUE(runner.Append(ids, /*all_logits=*/true, &logits).ok());
  return logits;
}

// Largest |a - b| at each position, [positions].
void ExpectClose(const std::vector<float>& cuda, const std::vector<float>& cpu,
                 int vocab, float tolerance, const std::string& what) {
  ASSERT_EQ(cuda.size(), cpu.size()) << what;
  const size_t positions = cpu.size() / vocab;
  float worst_all = 0.0f;
  for (size_t pos = 0; pos < positions; ++pos) {
    float worst = 0.0f;
    for (int v = 0; v < vocab; ++v) {
      worst = std::max(worst,
                       std::abs(cuda[pos * vocab + v] - cpu[pos * vocab + v]));
    }
    worst_all = std::max(worst_all, worst);
    EXPECT_LE(worst, tolerance) << what << ", position " << pos;
  }
  std::printf("%s: max |cuda - cpu| = %.3g over %zu positions\n", what.c_str(),
              worst_all, positions);
}

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HEADROOM_REQUIRE_CUDA_DEVICE();
    HEADROOM_REQUIRE_SHARED(model, kStories);
    HEADROOM_REQUIRE_SHARED(logits, kLogits);
    auto w = LoadModel(model);
    ASSERT_TRUE(w.ok()) << w.status();
    weights_ = std::move(*w);
    tokens_ = ::headroom::testing::ReadJsonFile(logits)["tokens"]
                  .get<std::vector<int>>();
  }

  ModelWeights weights_;
  std::vector<int> tokens_;  // the reference prompt
};

TEST_F(CudaBackendTest, LogitsMatchCpuAtEveryPositionFp16AndBf16) {
  auto cpu = Make(Device::kCpu, weights_);
  const std::vector<float> expected = AllLogits(*cpu, tokens_);
  const int vocab = weights_.config.vocab_size;
  for (auto [dtype, tolerance] : {std::pair{LowPrecision::kFloat16, 2e-2f},
                                  std::pair{LowPrecision::kBFloat16, 5e-2f}}) {
    BackendOptions options;
    options.dtype = dtype;
    auto cuda = Make(Device::kCuda, weights_, options);
    ASSERT_NE(cuda, nullptr);
    ExpectClose(AllLogits(*cuda, tokens_), expected, vocab, tolerance,
                std::string("stories260K ") + LowPrecisionName(dtype));
    // Prefill in chunks of 3 (cached pages + new tokens) is the same.
    ExpectClose(AllLogits(*cuda, tokens_, 3), expected, vocab, tolerance,
                std::string("stories260K chunked ") + LowPrecisionName(dtype));
  }
}

TEST_F(CudaBackendTest, GreedyTextIdenticalForFiftyTokens) {
  auto cpu = Make(Device::kCpu, weights_);
  auto cuda = Make(Device::kCuda, weights_);
  ASSERT_NE(cuda, nullptr);
  const std::vector<int> bos = {weights_.config.bos_id};
  EXPECT_EQ(GreedyTokens(*cuda, bos, 50), GreedyTokens(*cpu, bos, 50));
  EXPECT_EQ(GreedyTokens(*cuda, tokens_, 50), GreedyTokens(*cpu, tokens_, 50));
}

TEST_F(CudaBackendTest, BatchedEqualsSingleSequence) {
  // Eight sequences of different lengths in one ragged batch (prefill)
  // against each run alone: fp16 GEMMs of other shapes may round otherwise,
  // hence the fp16 tolerance.
  auto cuda = Make(Device::kCuda, weights_, {.num_blocks = 128});
  ASSERT_NE(cuda, nullptr);
  const int vocab = weights_.config.vocab_size;
  Batch batch;
  std::vector<std::vector<int>> prompts;
  for (int s = 0; s < 8; ++s) {
    std::vector<int> p(tokens_.begin(),
                       tokens_.begin() + 1 + (s * 5) % tokens_.size());
    prompts.push_back(p);
    batch.block_tables.push_back({});
    for (int b = 0; b < 8; ++b) batch.block_tables[s].push_back(s * 8 + b);
    batch.AddTokens(s, p.data(), static_cast<int>(p.size()), 0, true);
  }
  std::vector<float> together;
  ASSERT_TRUE(cuda->Forward(batch, &together).ok());
  ASSERT_EQ(together.size(), 8u * vocab);
  for (int s = 0; s < 8; ++s) {
    auto alone = Make(Device::kCuda, weights_);
    const std::vector<float> logits = AllLogits(*alone, prompts[s]);
    const std::vector<float> last(logits.end() - vocab, logits.end());
    ExpectClose(std::vector<float>(together.begin() + s * vocab,
                                   together.begin() + (s + 1) * vocab),
                last, vocab, 2e-2f, "sequence " + std::to_string(s));
  }
}

TEST_F(CudaBackendTest, CompressedModelsMatchCpu) {
  // Post-RoPE projections (svd-a keeps P_K and Q_j at runtime) and a folded
  // method, on stories260K-mha8 compressed 8 -> 2 KV heads.
  HEADROOM_REQUIRE_SHARED(mha8, "models/stories260K-mha8/stories260K_mha8.bin");
  HEADROOM_REQUIRE_SHARED(text, kText);
  const auto model = compress::testing::LoadShared(mha8);
  const auto stats = compress::testing::CalibrateOn(
      model, compress::testing::Lines(text, 1, 100));
  for (const char* method : {"svd-a", "rope-commuting"}) {
    const auto p = compress::testing::Compress(model, stats, method, 2);
    ModelWeights w = model.weights;
    ASSERT_TRUE(compress::ApplyProjections(p, &w).ok());
    auto cpu = Make(Device::kCpu, w);
    auto cuda = Make(Device::kCuda, w);
    ASSERT_NE(cuda, nullptr);
    ExpectClose(AllLogits(*cuda, tokens_), AllLogits(*cpu, tokens_),
                w.config.vocab_size, 2e-2f,
                std::string("stories260K-mha8 8->2 ") + method);
  }
}

TEST(CudaBackendLongContextTest, SplitKeyRangesMatchCpu) {
  // 1,500 positions: three split-K key ranges per query, prefill tiles of
  // 32 rows; d = 64 and d = 16, GQA groups of 1 and 4.
  HEADROOM_REQUIRE_CUDA_DEVICE();
  for (int head_dim : {64, 16}) {
    for (int group : {1, 4}) {
      ModelConfig c = SmallConfig(head_dim, 2048);
      // 8 query heads whatever d (h * d need not be D): SmallConfig(64) has
      // 2, and 2 / 4 would leave no KV head.
      c.n_heads = 8;
      c.n_kv_heads = c.n_heads / group;
      const ModelWeights w = RandomWeights(c, 7);
      std::vector<int> ids(1500);
      std::mt19937 rng(3);
      for (int& id : ids) id = static_cast<int>(rng() % c.vocab_size);
      auto cpu = Make(Device::kCpu, w);
      auto cuda = Make(Device::kCuda, w);
      ASSERT_NE(cuda, nullptr);
      // Logits at every position via chunks of 256 (prefill against cached
      // pages), the last 4 positions checked one token at a time (decode).
      const std::vector<int> head(ids.begin(), ids.end() - 4);
      const std::vector<int> tail(ids.end() - 4, ids.end());
      std::vector<float> cpu_logits, cuda_logits;
      SequenceRunner cpu_run(cpu.get(), 256), cuda_run(cuda.get(), 256);
      ASSERT_TRUE(cpu_run.Append(head, true, &cpu_logits).ok());
      ASSERT_TRUE(cuda_run.Append(head, true, &cuda_logits).ok());
      for (int id : tail) {
        std::vector<float> a, b;
        ASSERT_TRUE(cpu_run.Append({id}, true, &a).ok());
        ASSERT_TRUE(cuda_run.Append({id}, true, &b).ok());
        cpu_logits.insert(cpu_logits.end(), a.begin(), a.end());
        cuda_logits.insert(cuda_logits.end(), b.begin(), b.end());
      }
      ExpectClose(cuda_logits, cpu_logits, c.vocab_size, 2e-2f,
                  "random d=" + std::to_string(head_dim) +
                      " group=" + std::to_string(group));
    }
  }
}

TEST_F(CudaBackendTest, PageAccountingIsTheCpuPaths) {
  // The engine on a pool far too small: the same steps, preemptions and
  // pages whichever backend runs the forward pass (lengths are fixed by
  // ignore_eos, so scheduling cannot depend on the sampled tokens).
  HEADROOM_REQUIRE_SHARED(model, kStories);
  HEADROOM_REQUIRE_SHARED(text, kText);
  auto loaded = compress::testing::LoadShared(model);
  std::shared_ptr<const Tokenizer> tokenizer(std::move(loaded.tokenizer));
  const auto lines = compress::testing::Lines(text, 1, 16);
  server::EngineStats stats[2];
  for (Device device : {Device::kCpu, Device::kCuda}) {
    auto backend = Make(device, weights_, {.num_blocks = 12});
    ASSERT_NE(backend, nullptr);
    server::EngineOptions options;
    options.max_num_batched_tokens = 64;
    auto engine =
        server::Engine::Create(std::move(backend), tokenizer, options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    for (int i = 0; i < 16; ++i) {
      server::GenerateRequest r;
      r.prompt = lines[i].substr(0, 20 + 7 * i);
      r.max_tokens = 80;
      r.ignore_eos = true;
      ASSERT_TRUE((*engine)->Submit(r, [](const server::EngineEvent&) {}).ok());
    }
    while ((*engine)->HasWork()) ASSERT_TRUE((*engine)->Step().ok());
    stats[device == Device::kCuda] = (*engine)->stats();
  }
  EXPECT_GT(stats[0].preemptions, 0);
  EXPECT_EQ(stats[1].preemptions, stats[0].preemptions);
  EXPECT_EQ(stats[1].steps, stats[0].steps);
  EXPECT_EQ(stats[1].generated_tokens, stats[0].generated_tokens);
  EXPECT_EQ(stats[1].free_blocks, stats[1].total_blocks);
}

TEST(CudaBackendMemoryTest, KvBytesAreTheServedLayoutInTwoBytes) {
  HEADROOM_REQUIRE_CUDA_DEVICE();
  ModelConfig c = SmallConfig(16, 64);
  c.cache_kv_heads = {2, 4};
  c.n_kv_heads = 8;
  ModelWeights w = RandomWeights(c, 2);  // folded: W_K has g_l heads
  auto cuda = Make(Device::kCuda, std::move(w), {.num_blocks = 10});
  ASSERT_NE(cuda, nullptr);
  EXPECT_EQ(cuda->kv_cache_bytes(), 10 * KvBytesPerBlock(c, 16, Device::kCuda));
  EXPECT_EQ(KvBytesPerBlock(c, 16, Device::kCuda) * 2,
            KvBytesPerBlock(c, 16, Device::kCpu));
}

}  // namespace
}  // namespace headroom::runtime
