// The engine end to end on stories260K: batching changes nothing, a pool far
// too small still completes everything, cancellation frees pages, the
// compressed layout holds n/g times more tokens, bad requests never queue.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "compress/apply.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/kv_cache.h"
#include "server/engine/engine.h"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::server {
namespace {

using ::testing::HasSubstr;

constexpr char kModel[] = "models/stories260K/stories260K.bin";
constexpr char kText[] = "data/tinystories_val.txt";

struct Output {
  std::string text;
  std::vector<int> tokens;
  bool finished = false;
  FinishReason reason = FinishReason::kError;
  int completion_tokens = 0;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_path_ = ::headroom::testing::SharedPath(kModel);
    text_path_ = ::headroom::testing::SharedPath(kText);
    if (model_path_.empty() || text_path_.empty()) {
      GTEST_SKIP() << "../shared/" << kModel << " and " << kText
                   << " are needed (shared models/data beside the project)";
    }
    model_ = std::make_unique<compress::testing::LoadedModel>(
        compress::testing::LoadShared(model_path_));
    tokenizer_ = std::shared_ptr<const runtime::Tokenizer>(
        std::move(model_->tokenizer));
  }

  std::unique_ptr<Engine> MakeEngine(runtime::ModelWeights weights,
                                     int num_blocks,
                                     EngineOptions options = {}) {
    runtime::BackendOptions b;
    b.num_blocks = num_blocks;
    auto backend = runtime::CreateCpuBackend(std::move(weights), b);
    EXPECT_TRUE(backend.ok()) << backend.status();
    auto engine = Engine::Create(std::move(*backend), tokenizer_, options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return std::move(*engine);
  }

  // Submits every request, steps until all finish; outputs by request index.
  std::vector<Output> RunAll(Engine& engine,
                             const std::vector<GenerateRequest>& requests) {
    std::vector<Output> out(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      auto id = engine.Submit(requests[i], [&out, i](const EngineEvent& e) {
        out[i].text += e.text;
        out[i].tokens.insert(out[i].tokens.end(), e.token_ids.begin(),
                             e.token_ids.end());
        if (e.finished) {
          out[i].finished = true;
          out[i].reason = e.finish_reason;
          out[i].completion_tokens = e.usage.completion_tokens;
        }
      });
      EXPECT_TRUE(id.ok()) << id.status();
    }
    for (int steps = 0; engine.HasWork() && steps < 100000; ++steps) {
      auto s = engine.Step();
      EXPECT_TRUE(s.ok()) << s;
    }
    return out;
  }

  std::vector<GenerateRequest> Prompts(int count, int max_tokens,
                                       float temperature = 0.0f) {
    const auto lines = compress::testing::Lines(text_path_, 1, count);
    std::vector<GenerateRequest> requests;
    for (int i = 0; i < count; ++i) {
      GenerateRequest r;
      // Prompts of different lengths: the first 1..40 words of a line.
      std::string words;
      int n = 1 + (i * 7) % 40, taken = 0;
      for (size_t p = 0; p < lines[i].size() && taken < n; ++p) {
        words += lines[i][p];
        if (lines[i][p] == ' ') ++taken;
      }
      r.prompt = words;
      r.max_tokens = max_tokens;
      r.sampling.temperature = temperature;
      r.sampling.seed = 1000 + i;
      requests.push_back(r);
    }
    return requests;
  }

  std::string model_path_, text_path_;
  std::unique_ptr<compress::testing::LoadedModel> model_;
  std::shared_ptr<const runtime::Tokenizer> tokenizer_;
};

void ExpectSameOutputs(const std::vector<Output>& together,
                       const std::vector<Output>& alone) {
  ASSERT_EQ(together.size(), alone.size());
  for (size_t i = 0; i < alone.size(); ++i) {
    EXPECT_TRUE(together[i].finished && alone[i].finished) << i;
    EXPECT_EQ(together[i].tokens, alone[i].tokens) << "request " << i;
    EXPECT_EQ(together[i].text, alone[i].text) << "request " << i;
  }
}

TEST_F(EngineTest, BatchedEqualsAloneGreedy) {
  const auto requests = Prompts(32, 40);
  auto engine = MakeEngine(model_->weights, 0);
  const auto together = RunAll(*engine, requests);
  std::vector<Output> alone;
  for (const auto& r : requests) alone.push_back(RunAll(*engine, {r})[0]);
  ExpectSameOutputs(together, alone);
  EXPECT_EQ(engine->stats().free_blocks, engine->stats().total_blocks);
}

TEST_F(EngineTest, BatchedEqualsAloneOnCompressedModel) {
  const auto calib = compress::testing::Lines(text_path_, 1, 200);
  compress::testing::LoadedModel for_calib{model_->weights, nullptr};
  // Calibration needs a tokenizer: lend the shared one.
  auto tok = runtime::LoadTokenizer(
      *runtime::FindTokenizerFor(model_path_), 512);
  ASSERT_TRUE(tok.ok());
  for_calib.tokenizer = std::move(*tok);
  const auto stats = compress::testing::CalibrateOn(for_calib, calib);
  const auto p = compress::testing::Compress(for_calib, stats, "svd-a", 2);
  runtime::ModelWeights w = model_->weights;
  ASSERT_TRUE(compress::ApplyProjections(p, &w).ok());
  const auto requests = Prompts(32, 30);
  auto engine = MakeEngine(w, 0);
  const auto together = RunAll(*engine, requests);
  std::vector<Output> alone;
  for (const auto& r : requests) alone.push_back(RunAll(*engine, {r})[0]);
  ExpectSameOutputs(together, alone);
}

TEST_F(EngineTest, SeededSamplingIsIndependentOfTheBatch) {
  const auto requests = Prompts(12, 30, /*temperature=*/0.9f);
  auto engine = MakeEngine(model_->weights, 0);
  const auto together = RunAll(*engine, requests);
  std::vector<Output> alone;
  for (const auto& r : requests) alone.push_back(RunAll(*engine, {r})[0]);
  ExpectSameOutputs(together, alone);
}

TEST_F(EngineTest, TinyPoolPreemptsAndStillCompletesEverything) {
  // 12 pages of 16 tokens for 16 requests of up to 100 tokens each.
  auto requests = Prompts(16, 80);
  for (auto& r : requests) r.ignore_eos = true;  // all run to max_tokens
  auto ample = MakeEngine(model_->weights, 200);
  const auto reference = RunAll(*ample, requests);
  EngineOptions options;
  options.max_num_batched_tokens = 64;
  auto tiny = MakeEngine(model_->weights, 12, options);
  const auto squeezed = RunAll(*tiny, requests);
  ExpectSameOutputs(squeezed, reference);
  for (const Output& o : squeezed) EXPECT_EQ(o.completion_tokens, 80);
  EXPECT_GT(tiny->stats().preemptions, 0);
  EXPECT_EQ(tiny->stats().free_blocks, 12);
}

TEST_F(EngineTest, CancellationFreesEveryPage) {
  auto engine = MakeEngine(model_->weights, 64);
  auto requests = Prompts(8, 200);
  std::vector<int64_t> ids;
  std::map<int64_t, Output> out;
  for (auto& r : requests) {
    r.ignore_eos = true;
    auto id = engine->Submit(r, [&out](const EngineEvent& e) {
      auto& o = out[e.request_id];
      o.tokens.insert(o.tokens.end(), e.token_ids.begin(), e.token_ids.end());
      if (e.finished) {
        o.finished = true;
        o.reason = e.finish_reason;
      }
    });
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(engine->Step().ok());
  EXPECT_LT(engine->stats().free_blocks, 64);
  for (size_t i = 0; i < ids.size(); i += 2) engine->Cancel(ids[i]);
  ASSERT_TRUE(engine->Step().ok());
  for (size_t i = 0; i < ids.size(); i += 2) {
    EXPECT_TRUE(out[ids[i]].finished);
    EXPECT_EQ(out[ids[i]].reason, FinishReason::kCancelled);
  }
  while (engine->HasWork()) ASSERT_TRUE(engine->Step().ok());
  for (size_t i = 1; i < ids.size(); i += 2) {
    EXPECT_EQ(out[ids[i]].reason, FinishReason::kLength);
  }
  EXPECT_EQ(engine->stats().free_blocks, 64);
  engine->Cancel(ids[1]);  // finished already: ignored
  ASSERT_TRUE(engine->Step().ok());
}

TEST_F(EngineTest, CompressedLayoutHoldsNOverGTimesMoreTokens) {
  const auto calib = compress::testing::Lines(text_path_, 1, 50);
  compress::testing::LoadedModel for_calib{model_->weights, nullptr};
  for_calib.tokenizer = std::move(
      *runtime::LoadTokenizer(*runtime::FindTokenizerFor(model_path_), 512));
  const auto stats = compress::testing::CalibrateOn(for_calib, calib);
  const int64_t budget = 1 << 20;  // the same KV memory for both
  for (int g : {2, 1}) {
    runtime::ModelWeights compressed = model_->weights;
    ASSERT_TRUE(compress::ApplyProjections(
                    compress::testing::Compress(for_calib, stats, "svd-a", g),
                    &compressed)
                    .ok());
    auto pool = [&](const runtime::ModelWeights& w) {
      const int blocks = BlockManager::BlocksForBudget(
          budget, runtime::KvCache::BytesPerBlock(w.config, 16));
      auto engine = MakeEngine(w, blocks);
      const EngineStats s = engine->stats();
      return std::pair<int64_t, int64_t>{
          int64_t{s.total_blocks} * s.block_size, blocks};
    };
    const auto [original_tokens, original_blocks] = pool(model_->weights);
    const auto [compressed_tokens, compressed_blocks] = pool(compressed);
    EXPECT_EQ(compressed_tokens, original_tokens * (4 / g)) << "g " << g;
    // And the backends really allocated no more than the budget.
    runtime::BackendOptions b;
    b.num_blocks = compressed_blocks;
    auto backend = runtime::CreateCpuBackend(compressed, b);
    ASSERT_TRUE(backend.ok());
    EXPECT_LE((*backend)->kv_cache_bytes(), budget);
    b.num_blocks = original_blocks;
    auto original_backend = runtime::CreateCpuBackend(model_->weights, b);
    EXPECT_EQ((*backend)->kv_cache_bytes(),
              (*original_backend)->kv_cache_bytes());
  }
}

TEST_F(EngineTest, InvalidRequestsAreRejectedBeforeQueueing) {
  auto engine = MakeEngine(model_->weights, 8);
  auto submit = [&](auto mutate) {
    GenerateRequest r;
    r.prompt = "Once upon a time";
    r.max_tokens = 8;
    mutate(r);
    return engine->Submit(r, nullptr).status();
  };
  struct Case {
    std::function<void(GenerateRequest&)> mutate;
    const char* field;
  };
  const Case cases[] = {
      {[](auto& r) { r.sampling.temperature = -1; }, "temperature"},
      {[](auto& r) { r.sampling.top_p = 0; }, "top_p"},
      {[](auto& r) { r.sampling.top_p = 1.5f; }, "top_p"},
      {[](auto& r) { r.sampling.top_k = -1; }, "top_k"},
      {[](auto& r) { r.max_tokens = 0; }, "max_tokens"},
      {[](auto& r) { r.max_tokens = 600; }, "max_tokens"},
      {[](auto& r) { r.prompt = ""; }, "prompt is empty"},
      {[](auto& r) { r.prompt = std::string(3000, 'x') + " y"; }, "prompt has"},
      {[](auto& r) { r.min_tokens = 9; }, "min_tokens"},
      {[](auto& r) { r.stop = {""}; }, "stop[0]"},
      {[](auto& r) { r.stop_token_ids = {9999}; }, "stop_token_ids[0]"},
  };
  for (const Case& c : cases) {
    const absl::Status s = submit(c.mutate);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(s.message(), HasSubstr(c.field));
  }
  // A request that could never fit the 8-page pool.
  const absl::Status big = submit([](auto& r) { r.max_tokens = 200; });
  EXPECT_EQ(big.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(big.message(), HasSubstr("KV pages"));
  EXPECT_FALSE(engine->HasWork());
  EXPECT_EQ(engine->stats().waiting, 0);
}

TEST_F(EngineTest, StopStringsStopTokensAndMinTokens) {
  auto engine = MakeEngine(model_->weights, 0);
  GenerateRequest base;
  base.prompt = "Once upon a time";
  base.max_tokens = 60;
  const Output free_run = RunAll(*engine, {base})[0];
  ASSERT_GT(free_run.text.size(), 20u);
  // Stop at a word the free run produces: the text ends right before it.
  const std::string word = free_run.text.substr(10, 5);
  GenerateRequest stop = base;
  stop.stop = {word};
  const Output stopped = RunAll(*engine, {stop})[0];
  EXPECT_EQ(stopped.reason, FinishReason::kStopSequence);
  EXPECT_EQ(stopped.text, free_run.text.substr(0, free_run.text.find(word)));
  // A stop token id ends generation with that token.
  GenerateRequest stop_id = base;
  stop_id.stop_token_ids = {free_run.tokens[3]};
  const Output by_id = RunAll(*engine, {stop_id})[0];
  EXPECT_EQ(by_id.reason, FinishReason::kStopSequence);
  EXPECT_EQ(by_id.tokens.size(), 4u);
  // min_tokens masks the stop ids until reached.
  GenerateRequest min = stop_id;
  min.min_tokens = 10;
  const Output at_least = RunAll(*engine, {min})[0];
  EXPECT_GE(at_least.tokens.size(), 11u);
  EXPECT_EQ(engine->stats().free_blocks, engine->stats().total_blocks);
}

// The engine thread with submits and cancels from other threads (TSan).
TEST_F(EngineTest, ThreadedSubmitAndCancel) {
  auto engine = MakeEngine(model_->weights, 48);
  engine->Start();
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  const auto requests = Prompts(24, 40);
  std::vector<std::thread> clients;
  std::atomic<int> cancelled{0};
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int i = c; i < 24; i += 4) {
        auto id = engine->Submit(requests[i], [&](const EngineEvent& e) {
          if (!e.finished) return;
          std::lock_guard<std::mutex> lock(mu);
          ++finished;
          cv.notify_all();
        });
        ASSERT_TRUE(id.ok());
        if (i % 3 == 0) {
          engine->Cancel(*id);
          ++cancelled;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::minutes(5),
                            [&] { return finished == 24; }));
  }
  engine->Stop();
  EXPECT_EQ(engine->stats().free_blocks, 48);
  EXPECT_EQ(engine->stats().finished_requests, 24);
  EXPECT_GT(cancelled.load(), 0);
}

}  // namespace
}  // namespace headroom::server
