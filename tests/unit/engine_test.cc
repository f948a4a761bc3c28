// The engine end to end on the embedded model (models/headroom-tiny: MHA, 8
// KV heads, a 128-token context) with prompts from tests/data: batching
// changes nothing, a pool far too small still completes everything,
// cancellation frees pages, the compressed layout holds n/g times more
// tokens, bad requests never queue, prefix caching changes no output.
// Runs without ../shared.
#include "server/engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "compress/apply.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/kv/kv_cache.h"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::server {
namespace {

using ::testing::HasSubstr;

struct Output {
  std::string text;
  std::vector<int> tokens;
  bool finished = false;
  FinishReason reason = FinishReason::kError;
  int completion_tokens = 0;
  int cached_tokens = 0;
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

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_path_ = ::headroom::testing::EmbeddedModelPath();
    text_path_ = ::headroom::testing::EmbeddedTextPath();
    model_ = std::make_unique<compress::testing::LoadedModel>(
        compress::testing::LoadShared(model_path_));
    ASSERT_EQ(model_->weights.config.n_kv_heads, 8) << "headroom-tiny is MHA";
    tokenizer_ =
        std::shared_ptr<const runtime::Tokenizer>(std::move(model_->tokenizer));
  }

  // Calibration statistics on the text's calibration lines, with a
  // tokenizer of its own (the fixture's is lent to the engines).
  compress::testing::LoadedModel ForCalibration() {
    compress::testing::LoadedModel m{model_->weights, nullptr};
    auto tok = runtime::LoadTokenizer(*runtime::FindTokenizerFor(model_path_),
                                      m.weights.config.vocab_size);
    EXPECT_TRUE(tok.ok()) << tok.status();
    if (tok.ok()) m.tokenizer = std::move(*tok);
    return m;
  }
  std::vector<std::string> CalibrationLines() {
    return compress::testing::Lines(text_path_,
                                    ::headroom::testing::kEmbeddedCalibFirst,
                                    ::headroom::testing::kEmbeddedCalibLast);
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
          out[i].cached_tokens = e.usage.cached_tokens;
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
      // Prompts of different lengths: the first 1..24 words of a line (up
      // to ~55 tokens, so that prompt + max_tokens fits the 128-token
      // context for max_tokens up to 64).
      std::string words;
      int n = 1 + (i * 7) % 24, taken = 0;
      for (size_t p = 0; p < lines[i].size() && taken < n; ++p) {
        words += lines[i][p];
        if (lines[i][p] == ' ') ++taken;
      }
      r.prompt = words;
      r.max_tokens = max_tokens;
      EXPECT_LE(tokenizer_->Encode(words, true).size() + max_tokens,
                static_cast<size_t>(model_->weights.config.max_seq_len))
          << "prompt " << i << " does not leave room for max_tokens";
      r.sampling.temperature = temperature;
      r.sampling.seed = 1000 + i;
      requests.push_back(r);
    }
    return requests;
  }

  // `count` prompts over `prefixes` shared beginnings: the first ~40
  // tokens of a line (a "system prompt", 2 full pages and more), then the
  // first 1..5 words of another line (the "user turn").
  std::vector<GenerateRequest> SharedPrefixPrompts(int count, int prefixes,
                                                   int max_tokens,
                                                   float temperature = 0.0f) {
    const auto lines = compress::testing::Lines(text_path_, 1, 40);
    std::vector<GenerateRequest> requests;
    for (int i = 0; i < count; ++i) {
      // Prefixes from the evaluation lines, turns from the others.
      std::vector<int> ids = tokenizer_->Encode(lines[28 + i % prefixes], true);
      EXPECT_GE(ids.size(), 40u);
      if (ids.size() > 40) ids.resize(40);
      std::string words;
      const std::string& line = lines[i % 28];
      for (size_t p = 0, taken = 0;
           p < line.size() && taken < static_cast<size_t>(1 + i % 5); ++p) {
        words += line[p];
        if (line[p] == ' ') ++taken;
      }
      const std::vector<int> turn = tokenizer_->Encode(words, false);
      ids.insert(ids.end(), turn.begin(), turn.end());
      GenerateRequest r;
      r.prompt_ids = ids;
      r.max_tokens = max_tokens;
      r.ignore_eos = true;
      r.sampling.temperature = temperature;
      r.sampling.seed = 7000 + i;
      EXPECT_LE(ids.size() + max_tokens,
                static_cast<size_t>(model_->weights.config.max_seq_len));
      requests.push_back(r);
    }
    return requests;
  }

  // `requests` in two waves, so the second finds the first's pages after
  // they finished (evictable) and not only while they run.
  std::vector<Output> RunInTwoWaves(Engine& engine,
                                    const std::vector<GenerateRequest>& all) {
    const size_t half = all.size() / 2;
    auto out = RunAll(engine, {all.begin(), all.begin() + half});
    const auto more = RunAll(engine, {all.begin() + half, all.end()});
    out.insert(out.end(), more.begin(), more.end());
    return out;
  }

  // Runs `requests` with prefix caching on pools of each size in `pools`
  // and once without it on an ample one: the same tokens, every page free
  // again, and the cache hit. Returns the cached engines' stats.
  std::vector<EngineStats> ExpectCachingChangesNothing(
      const runtime::ModelWeights& weights,
      const std::vector<GenerateRequest>& requests,
      const std::vector<int>& pools) {
    EngineOptions off;
    off.enable_prefix_caching = false;
    auto plain = MakeEngine(weights, 400, off);
    const auto without = RunInTwoWaves(*plain, requests);
    EXPECT_EQ(plain->stats().prefix_cache_hits, 0);
    std::vector<EngineStats> stats;
    for (int blocks : pools) {
      EngineOptions on;
      on.max_num_batched_tokens = 64;
      auto cached = MakeEngine(weights, blocks, on);
      const auto with = RunInTwoWaves(*cached, requests);
      ExpectSameOutputs(with, without);
      const EngineStats s = cached->stats();
      EXPECT_GT(s.prefix_cache_hits, 0);
      EXPECT_EQ(s.free_blocks, s.total_blocks);
      EXPECT_EQ(s.cached_blocks, s.evictable_blocks);
      EXPECT_EQ(s.kv_release_errors, 0);
      int64_t cached_tokens = 0;
      for (const Output& o : with) cached_tokens += o.cached_tokens;
      EXPECT_EQ(cached_tokens, s.prefix_cache_hits);
      stats.push_back(s);
    }
    return stats;
  }

  std::string model_path_, text_path_;
  std::unique_ptr<compress::testing::LoadedModel> model_;
  std::shared_ptr<const runtime::Tokenizer> tokenizer_;
};

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
  const compress::testing::LoadedModel for_calib = ForCalibration();
  ASSERT_NE(for_calib.tokenizer, nullptr);
  const auto stats =
      compress::testing::CalibrateOn(for_calib, CalibrationLines());
  // 8 -> 2 KV heads: four query heads share each served KV head.
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
  // 12 pages of 16 tokens for 16 requests of up to ~120 tokens (8 pages)
  // each.
  auto requests = Prompts(16, 64);
  for (auto& r : requests) r.ignore_eos = true;  // all run to max_tokens
  auto ample = MakeEngine(model_->weights, 200);
  const auto reference = RunAll(*ample, requests);
  EngineOptions options;
  options.max_num_batched_tokens = 64;
  auto tiny = MakeEngine(model_->weights, 12, options);
  const auto squeezed = RunAll(*tiny, requests);
  ExpectSameOutputs(squeezed, reference);
  for (const Output& o : squeezed) EXPECT_EQ(o.completion_tokens, 64);
  EXPECT_GT(tiny->stats().preemptions, 0);
  EXPECT_EQ(tiny->stats().free_blocks, 12);
}

TEST_F(EngineTest, CancellationFreesEveryPage) {
  auto engine = MakeEngine(model_->weights, 64);
  // Up to ~55 prompt tokens + 64: 8 requests need up to all 64 pages.
  auto requests = Prompts(8, 64);
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
  const compress::testing::LoadedModel for_calib = ForCalibration();
  ASSERT_NE(for_calib.tokenizer, nullptr);
  const auto stats =
      compress::testing::CalibrateOn(for_calib, CalibrationLines());
  const int64_t budget = 1 << 20;  // the same KV memory for both
  const int n = model_->weights.config.n_kv_heads;  // 8
  for (int g : {4, 2, 1}) {
    runtime::ModelWeights compressed = model_->weights;
    ASSERT_TRUE(compress::ApplyProjections(
                    compress::testing::Compress(for_calib, stats, "svd-a", g),
                    &compressed)
                    .ok());
    auto pool = [&](const runtime::ModelWeights& w) {
      const int blocks = BlockPool::BlocksForBudget(
          budget, runtime::KvCache::BytesPerBlock(w.config, 16));
      auto engine = MakeEngine(w, blocks);
      const EngineStats s = engine->stats();
      return std::pair<int64_t, int64_t>{int64_t{s.total_blocks} * s.block_size,
                                         blocks};
    };
    const auto [original_tokens, original_blocks] = pool(model_->weights);
    const auto [compressed_tokens, compressed_blocks] = pool(compressed);
    EXPECT_EQ(compressed_tokens, original_tokens * (n / g)) << "g " << g;
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
  // 4 pages of 16: 64 tokens, less than the 128-token context, so that a
  // valid request can still be too large for the pool.
  auto engine = MakeEngine(model_->weights, 4);
  const int context = model_->weights.config.max_seq_len;
  // `context` one-letter words: at least `context` tokens, yet far fewer
  // bytes than the prompt byte limit (context x the longest token).
  std::string long_prompt;
  for (int i = 0; i < context; ++i) long_prompt += "a ";
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
      {[](auto& r) { r.max_tokens = 600; }, "max_tokens"},  // > context
      {[](auto& r) { r.prompt = ""; }, "prompt is empty"},
      {[&](auto& r) { r.prompt = long_prompt; }, "prompt has"},
      {[](auto& r) { r.min_tokens = 9; }, "min_tokens"},
      {[](auto& r) { r.stop = {""}; }, "stop[0]"},
      {[](auto& r) { r.stop_token_ids = {9999}; }, "stop_token_ids[0]"},
  };
  for (const Case& c : cases) {
    const absl::Status s = submit(c.mutate);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(s.message(), HasSubstr(c.field));
  }
  // A request that fits the context but could never fit the 4-page pool.
  const absl::Status big = submit([](auto& r) { r.max_tokens = 100; });
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
  // A stop token id ends generation with that token: the first token from
  // the fourth on that the free run had not produced before.
  size_t k = 3;
  while (k < free_run.tokens.size() &&
         std::find(free_run.tokens.begin(), free_run.tokens.begin() + k,
                   free_run.tokens[k]) != free_run.tokens.begin() + k) {
    ++k;
  }
  ASSERT_LT(k, free_run.tokens.size());
  GenerateRequest stop_id = base;
  stop_id.stop_token_ids = {free_run.tokens[k]};
  const Output by_id = RunAll(*engine, {stop_id})[0];
  EXPECT_EQ(by_id.reason, FinishReason::kStopSequence);
  EXPECT_EQ(by_id.tokens.size(), k + 1);
  // min_tokens masks the stop ids until reached.
  GenerateRequest min = stop_id;
  min.min_tokens = static_cast<int>(k) + 6;
  const Output at_least = RunAll(*engine, {min})[0];
  EXPECT_GE(at_least.tokens.size(), k + 7);
  EXPECT_EQ(engine->stats().free_blocks, engine->stats().total_blocks);
}

// Prefix caching: outputs with it equal outputs without it, token for
// token, with a pool so small that sequences are preempted (and find their
// own pages again) and cached pages are evicted (fewer hits than an ample
// pool gets).
TEST_F(EngineTest, PrefixCachingChangesNoOutputGreedy) {
  const auto requests = SharedPrefixPrompts(24, 4, 40);
  const auto stats =
      ExpectCachingChangesNothing(model_->weights, requests, {14, 400});
  ASSERT_EQ(stats.size(), 2u);
  const EngineStats& tiny = stats[0];
  const EngineStats& ample = stats[1];
  EXPECT_GT(tiny.preemptions, 0);
  EXPECT_LT(tiny.prefix_cache_hits, ample.prefix_cache_hits);  // evictions
  // Ample: every request after the first of its prefix finds its 2 full
  // pages (40 tokens + the turn: pages 0 and 1 are the prefix's alone).
  EXPECT_GE(ample.prefix_cache_hits, (24 - 4) * 32);
}

TEST_F(EngineTest, PrefixCachingChangesNoOutputSeeded) {
  const auto requests = SharedPrefixPrompts(16, 3, 40, /*temperature=*/0.9f);
  const auto s = ExpectCachingChangesNothing(model_->weights, requests, {14});
  EXPECT_GT(s.at(0).preemptions, 0);
}

TEST_F(EngineTest, PrefixCachingChangesNoOutputOnCompressedModel) {
  const compress::testing::LoadedModel for_calib = ForCalibration();
  ASSERT_NE(for_calib.tokenizer, nullptr);
  const auto stats =
      compress::testing::CalibrateOn(for_calib, CalibrationLines());
  runtime::ModelWeights w = model_->weights;
  ASSERT_TRUE(compress::ApplyProjections(
                  compress::testing::Compress(for_calib, stats, "svd-a", 2), &w)
                  .ok());
  const auto requests = SharedPrefixPrompts(24, 4, 30);
  const auto s = ExpectCachingChangesNothing(w, requests, {14});
  EXPECT_GT(s.at(0).preemptions, 0);
}

// The n samples of one prompt, submitted together: one computes the
// prompt's full pages, the others share them (cached_tokens), and each
// draws what it draws alone.
TEST_F(EngineTest, SamplesOfOnePromptShareItsPages) {
  auto requests = SharedPrefixPrompts(1, 1, 20, /*temperature=*/0.9f);
  for (int i = 1; i < 4; ++i) {
    requests.push_back(requests[0]);
    requests.back().sampling.seed = 100 + i;
  }
  const int shared =
      static_cast<int>(ShareablePromptBlocks(
          static_cast<int64_t>(requests[0].prompt_ids.size()), 16)) *
      16;
  ASSERT_GE(shared, 32);
  auto engine = MakeEngine(model_->weights, 64);
  const auto together = RunAll(*engine, requests);
  EXPECT_EQ(together[0].cached_tokens, 0);
  for (int i = 1; i < 4; ++i) EXPECT_EQ(together[i].cached_tokens, shared);
  EngineOptions off;
  off.enable_prefix_caching = false;
  auto plain = MakeEngine(model_->weights, 64, off);
  ExpectSameOutputs(together, RunAll(*plain, requests));
}

// Requests share pages only with the same cache salt (the service gives
// each tenant its own).
TEST_F(EngineTest, PrefixCacheIsSaltedPerTenant) {
  auto requests = SharedPrefixPrompts(1, 1, 4);
  auto engine = MakeEngine(model_->weights, 64);
  requests[0].cache_salt = "tenant:a";
  EXPECT_EQ(RunAll(*engine, requests)[0].cached_tokens, 0);
  EXPECT_GT(RunAll(*engine, requests)[0].cached_tokens, 0);
  requests[0].cache_salt = "tenant:b";
  EXPECT_EQ(RunAll(*engine, requests)[0].cached_tokens, 0);
  EXPECT_NE(engine->PrefixRootFor("tenant:a"),
            engine->PrefixRootFor("tenant:b"));
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
