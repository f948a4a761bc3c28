// Request limits and engine robustness without a model: 64-bit page and
// length arithmetic on request input, refusals before queueing, the prompt
// byte bound, failed steps turning the engine unhealthy, and cancelling
// everything at a drain's deadline. A byte tokenizer and a scripted backend
// stand in for a model, so nothing here depends on ../shared or on BLAS.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <climits>
#include <map>
#include <string>
#include <vector>

#include "runtime/tokenizers/tokenizer.h"
#include "server/engine/engine.h"
#include "server/engine/request_limits.h"

namespace headroom::server {
namespace {

using ::testing::HasSubstr;

// One token per byte: id = byte + 3 (0 unk, 1 BOS, 2 EOS), and one
// multi-byte piece, id 259 = "hello", so the longest token has 5 bytes.
class ByteTokenizer final : public runtime::Tokenizer {
 public:
  std::vector<int> Encode(std::string_view text, bool add_bos) const override {
    std::vector<int> ids;
    if (add_bos) ids.push_back(1);
    for (unsigned char c : text) ids.push_back(c + 3);
    return ids;
  }
  std::string DecodeToken(int, int id) const override {
    if (id == 259) return "hello";
    if (id < 3 || id >= 259) return "";
    return std::string(1, static_cast<char>(id - 3));
  }
  int vocab_size() const override { return 260; }
  int bos_id() const override { return 1; }
  int eos_id() const override { return 2; }
};

// Forward fails while `failures_left` > 0 (the error a lost device gives),
// then writes logits that make token 65 ('>') the argmax.
class ScriptedBackend final : public runtime::Backend {
 public:
  ScriptedBackend(int max_seq_len, int num_blocks, int* failures_left)
      : num_blocks_(num_blocks), failures_left_(failures_left) {
    config_.vocab_size = 260;
    config_.max_seq_len = max_seq_len;
    config_.dim = 8;
    config_.n_layers = 1;
    config_.n_heads = 1;
    config_.n_kv_heads = 1;
    config_.head_dim = 8;
  }
  const runtime::ModelConfig& config() const override { return config_; }
  std::string name() const override { return "scripted"; }
  int block_size() const override { return 16; }
  int num_blocks() const override { return num_blocks_; }
  int64_t kv_cache_bytes() const override { return 0; }
  absl::Status Forward(const runtime::Batch& batch,
                       std::vector<float>* logits) override {
    if (*failures_left_ > 0) {
      --*failures_left_;
      return absl::InternalError("device lost (scripted)");
    }
    const int outputs = batch.num_outputs();
    logits->assign(static_cast<size_t>(outputs) * config_.vocab_size, 0.0f);
    for (int r = 0; r < outputs; ++r) {
      (*logits)[static_cast<size_t>(r) * config_.vocab_size + 65] = 1.0f;
    }
    return absl::OkStatus();
  }

 private:
  runtime::ModelConfig config_;
  int num_blocks_;
  int* failures_left_;
};

RequestLimits Limits() {
  RequestLimits l;
  l.vocab_size = 260;
  l.max_seq_len = 4096;
  l.block_size = 16;
  l.num_blocks = 64;
  return l;
}

GenerateRequest Request(int prompt_tokens, int max_tokens) {
  GenerateRequest r;
  r.prompt_ids.assign(prompt_tokens, 70);
  r.max_tokens = max_tokens;
  return r;
}

TEST(RequestLimitsTest, MaxTokensAtInt32MaxIsInvalidArgumentNamingIt) {
  const absl::Status s = ValidateRequest(Request(5, INT_MAX), Limits());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("max_tokens 2147483647"));
}

TEST(RequestLimitsTest, PromptPlusMaxTokensOverflowingInt32IsRefused) {
  // 100 + (INT_MAX - 50) wraps to a negative int in 32 bits.
  const absl::Status s = ValidateRequest(Request(100, INT_MAX - 50), Limits());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("max_tokens"));
}

TEST(RequestLimitsTest, MorePagesThanThePoolIsRefusedUpFront) {
  RequestLimits l = Limits();
  l.num_blocks = 4;  // 64 tokens, less than the 4096-token context
  EXPECT_TRUE(ValidateRequest(Request(10, 54), l).ok());  // exactly 4 pages
  const absl::Status s = ValidateRequest(Request(10, 55), l);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(s.message(), HasSubstr("needs 5 KV pages"));
  EXPECT_THAT(s.message(), HasSubstr("the pool has 4"));
}

TEST(RequestLimitsTest, PageArithmeticIs64Bit) {
  EXPECT_EQ(BlocksFor(int64_t{INT_MAX} + 100, 16),
            (int64_t{INT_MAX} + 100 + 15) / 16);
  GenerateRequest r = Request(3000, INT_MAX);
  EXPECT_EQ(WorstCasePages(r, Limits()), (int64_t{3000} + INT_MAX + 15) / 16);
}

TEST(RequestLimitsTest, EveryFieldIsCheckedBeforeThePool) {
  RequestLimits l = Limits();
  l.num_blocks = 1;
  GenerateRequest r = Request(10, 100);  // too big for the pool, and ...
  r.sampling.temperature = -1.0f;        // ... invalid
  const absl::Status s = ValidateRequest(r, l);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("temperature"));
}

TEST(RequestLimitsTest, PromptBytesAreBoundedByTheContext) {
  ByteTokenizer tok;
  EXPECT_EQ(MaxTokenBytes(tok), 5);
  EXPECT_EQ(DefaultMaxPromptBytes(tok, 128), 5 * 128);
  EXPECT_EQ(DefaultMaxPromptBytes(tok, INT_MAX), int64_t{5} * INT_MAX);
  RequestLimits l = Limits();
  l.max_prompt_bytes = 640;
  EXPECT_TRUE(CheckPromptBytes("prompt", 640, l).ok());
  const absl::Status s = CheckPromptBytes("text", 641, l);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("text: 641 bytes"));
  EXPECT_THAT(s.message(), HasSubstr("limit of 640"));
}

TEST(RequestLimitsTest,
     DefaultBoundOnTheEmbeddedTokenizerRefusesNoServablePrompt) {
  // The bound's claim: more bytes than context x MaxTokenBytes tokenize to
  // more tokens than the context. The worst case repeats the longest piece.
  auto tok = runtime::LoadTokenizer(std::string(HEADROOM_SOURCE_DIR) +
                                        "/models/headroom-tiny/tokenizer.model",
                                    512);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const int context = 128;
  const int64_t bound = DefaultMaxPromptBytes(**tok, context);
  std::string longest;
  for (int id = 0; id < (*tok)->vocab_size(); ++id) {
    const std::string piece = (*tok)->DecodeToken(-1, id);
    if (piece.size() > longest.size()) longest = piece;
  }
  ASSERT_EQ(static_cast<int64_t>(longest.size()), bound / context);
  for (const std::string& unit : {longest, std::string("Once upon a time. "),
                                  std::string("x"), std::string(" ")}) {
    std::string text;
    while (static_cast<int64_t>(text.size()) <= bound) text += unit;
    const std::vector<int> ids = (*tok)->Encode(text, /*add_bos=*/false);
    EXPECT_GT(static_cast<int64_t>(ids.size()), context)
        << "\"" << unit << "\" x " << text.size() / unit.size();
  }
}

class EngineLimitsTest : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> MakeEngine(int max_seq_len, int num_blocks,
                                     EngineOptions options = {}) {
    auto engine = Engine::Create(std::make_unique<ScriptedBackend>(
                                     max_seq_len, num_blocks, &failures_left_),
                                 std::make_shared<ByteTokenizer>(), options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return std::move(*engine);
  }
  int failures_left_ = 0;
};

TEST_F(EngineLimitsTest, OverflowingAndOversizedRequestsNeverQueue) {
  // A pool (4 pages, 64 tokens) smaller than the context (4096): before
  // the fix, INT_MAX wrapped past the checks and the request was preempted
  // and recomputed forever.
  auto engine = MakeEngine(4096, 4);
  GenerateRequest r;
  r.prompt = "Once upon a time";
  r.max_tokens = INT_MAX;
  const absl::Status wrapped = engine->Submit(r, nullptr).status();
  EXPECT_EQ(wrapped.code(), absl::StatusCode::kInvalidArgument) << wrapped;
  EXPECT_THAT(wrapped.message(), HasSubstr("max_tokens"));
  r.max_tokens = 100;  // 17 + 100 tokens: 8 pages of the 4
  const absl::Status big = engine->Submit(r, nullptr).status();
  EXPECT_EQ(big.code(), absl::StatusCode::kResourceExhausted) << big;
  EXPECT_FALSE(engine->HasWork());
}

TEST_F(EngineLimitsTest, PromptBytesAreCheckedBeforeTokenizing) {
  EngineOptions options;
  options.max_prompt_bytes = 1000;
  auto engine = MakeEngine(4096, 64, options);
  EXPECT_EQ(engine->limits().max_prompt_bytes, 1000);
  GenerateRequest r;
  r.prompt = std::string(1001, 'a');
  const absl::Status s = engine->Submit(r, nullptr).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("prompt: 1001 bytes"));
  // The default: the context times the longest token (5 bytes).
  EXPECT_EQ(MakeEngine(300, 64)->limits().max_prompt_bytes, 1500);
}

TEST_F(EngineLimitsTest, FailingStepsFailTheirRequestsAndTurnUnhealthy) {
  std::vector<std::pair<bool, std::string>> health;
  EngineOptions options;
  options.max_consecutive_step_failures = 3;
  options.on_health = [&](bool healthy, const absl::Status& error) {
    health.emplace_back(healthy, std::string(error.message()));
  };
  auto engine = MakeEngine(256, 64, options);
  failures_left_ = 3;
  std::vector<EngineEvent> finals;
  auto submit = [&] {
    GenerateRequest r;
    r.prompt = "abc";
    r.max_tokens = 2;
    ASSERT_TRUE(engine
                    ->Submit(r,
                             [&](const EngineEvent& e) {
                               if (e.finished) finals.push_back(e);
                             })
                    .ok());
  };
  for (int i = 0; i < 3; ++i) {
    submit();
    EXPECT_FALSE(engine->Step().ok());
  }
  ASSERT_EQ(finals.size(), 3u);
  for (const EngineEvent& e : finals) {
    EXPECT_EQ(e.finish_reason, FinishReason::kError);
    EXPECT_THAT(e.error, HasSubstr("device lost"));
  }
  ASSERT_EQ(health.size(), 1u);  // reported once, at the third failure
  EXPECT_FALSE(health[0].first);
  EXPECT_THAT(health[0].second, HasSubstr("device lost"));
  EXPECT_EQ(engine->stats().failed_steps, 3);
  EXPECT_EQ(engine->stats().free_blocks, 64);  // the failed ones freed theirs

  submit();  // the backend works again
  while (engine->HasWork()) ASSERT_TRUE(engine->Step().ok());
  ASSERT_EQ(finals.size(), 4u);
  EXPECT_EQ(finals[3].finish_reason, FinishReason::kLength);
  ASSERT_EQ(health.size(), 2u);
  EXPECT_TRUE(health[1].first);
}

TEST_F(EngineLimitsTest, CancelAllFinishesEveryRequestAsCancelled) {
  auto engine = MakeEngine(256, 64);
  std::map<int64_t, FinishReason> reasons;
  for (int i = 0; i < 5; ++i) {
    GenerateRequest r;
    r.prompt = std::string(10 + i, 'a');
    r.max_tokens = 100;
    auto id = engine->Submit(r, [&](const EngineEvent& e) {
      if (e.finished) reasons[e.request_id] = e.finish_reason;
    });
    ASSERT_TRUE(id.ok());
  }
  ASSERT_TRUE(engine->Step().ok());  // some running, holding pages
  EXPECT_LT(engine->stats().free_blocks, 64);
  engine->CancelAll();
  ASSERT_TRUE(engine->Step().ok());
  EXPECT_FALSE(engine->HasWork());
  ASSERT_EQ(reasons.size(), 5u);
  for (const auto& [id, reason] : reasons) {
    EXPECT_EQ(reason, FinishReason::kCancelled) << id;
  }
  EXPECT_EQ(engine->stats().free_blocks, 64);
}

}  // namespace
}  // namespace headroom::server
