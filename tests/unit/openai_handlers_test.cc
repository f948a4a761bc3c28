// The OpenAI API's handlers over a real HeadroomService and engine on the
// embedded model, through the router, with a fake chat renderer injected
// (the chat-template module is not the handlers' business): chat
// completions plain and streamed, their logprobs, the renderer's errors,
// and that chat with rendered text is the completion of that text.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "nlohmann/json.hpp"
#include "runtime/cpu/cpu_backend.h"
#include "server/http/async_responder.h"
#include "server/metrics.h"
#include "server/openai/handlers.h"
#include "server/server_metrics.h"
#include "server/service.h"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::server::openai {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

// Collects a deferred answer: whole, or the stream's bytes.
class FakeResponder : public http::AsyncResponder {
 public:
  void Respond(http::HttpResponse r) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = r.status;
    body_ = r.body;
    done_ = true;
    cv_.notify_all();
  }
  void BeginStream(int status, std::string content_type,
                   http::HttpHeaders) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    content_type_ = content_type;
  }
  void Write(std::string data) override {
    std::lock_guard<std::mutex> lock(mu_);
    body_ += data;
  }
  void End() override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void OnClientGone(std::function<void()>) override {}

  // Waits for the answer: status and body.
  std::pair<int, std::string> Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(60), [&] { return done_; });
    return {status_, body_};
  }
  std::string content_type() {
    std::lock_guard<std::mutex> lock(mu_);
    return content_type_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  int status_ = 0;
  std::string content_type_;
  std::string body_;
};

// "<role>: <content>\n" per message, then "assistant:" when asked.
absl::StatusOr<runtime::RenderedChat> FakeRender(
    const std::vector<runtime::ChatMessage>& m, bool add_generation_prompt) {
  runtime::RenderedChat out;
  for (const runtime::ChatMessage& msg : m) {
    if (msg.content == "fail") {
      return absl::InvalidArgumentError("the template refused it");
    }
    out.text += msg.role + ": " + msg.content + "\n";
  }
  if (add_generation_prompt) out.text += "assistant:";
  return out;
}

class OpenAiHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model =
        compress::testing::LoadShared(::headroom::testing::EmbeddedModelPath());
    auto tokenizer =
        std::shared_ptr<const runtime::Tokenizer>(std::move(model.tokenizer));
    runtime::BackendOptions b;
    b.num_blocks = 64;
    const int context = model.weights.config.max_seq_len;
    auto backend = runtime::CreateCpuBackend(std::move(model.weights), b);
    ASSERT_TRUE(backend.ok()) << backend.status();
    auto engine = Engine::Create(std::move(*backend), tokenizer, {});
    ASSERT_TRUE(engine.ok()) << engine.status();
    auto ctx = std::make_unique<ServingContext>();
    ctx->engine = std::move(*engine);
    ctx->tokenizer = tokenizer;
    ctx->tenants = std::make_unique<TenantRegistry>(
        std::vector<TenantConfig>{}, /*allow_anonymous=*/true, 64);
    ctx->fair_share =
        std::make_unique<FairShare>(std::map<std::string, double>{});
    ctx->model_info.set_context_length(context);
    ctx->chat_renderer = Renderer();
    ctx->engine->Start();
    service_.Activate(std::move(ctx));
  }

  // The served model's chat renderer.
  virtual ChatRenderer Renderer() { return FakeRender; }

  std::pair<int, std::string> Call(OpenAiApi& api, const std::string& path,
                                   const std::string& body,
                                   std::string* content_type = nullptr) {
    http::Router router = api.Routes();
    http::HttpResponse r = router.Route({"POST", path, body, {}});
    if (!r.deferred) return {r.status, r.body};
    auto out = std::make_shared<FakeResponder>();
    r.deferred(out);
    auto answer = out->Wait();
    if (content_type != nullptr) *content_type = out->content_type();
    return answer;
  }

  MetricsRegistry registry_;
  ServerMetrics metrics_{registry_};
  HeadroomService service_{&metrics_};
};

TEST_F(OpenAiHandlersTest, ChatCompletesTheRenderedPromptWithoutAddedBos) {
  OpenAiApi api(&service_, {"tiny", 0});
  const std::string messages =
      R"([{"role":"system","content":"A story."},)"
      R"({"role":"user","content":"Once upon a time"}])";
  auto [status, body] = Call(api, "/v1/chat/completions",
                             R"({"model":"tiny","max_tokens":10,"seed":3,)"
                             R"("temperature":0.7,"messages":)" +
                                 messages + "}");
  ASSERT_EQ(status, 200) << body;
  const Json chat = Json::parse(body);
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_THAT(chat["id"].get<std::string>(),
              ::testing::StartsWith("chatcmpl-"));
  EXPECT_EQ(chat["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(chat["choices"][0]["logprobs"].is_null());

  const std::string rendered =
      FakeRender({{"system", "A story."}, {"user", "Once upon a time"}}, true)
          ->text;
  Json completion_request = {{"model", "tiny"},
                             {"max_tokens", 10},
                             {"seed", 3},
                             {"temperature", 0.7},
                             {"prompt", rendered}};
  auto [cstatus, cbody] =
      Call(api, "/v1/completions", completion_request.dump());
  ASSERT_EQ(cstatus, 200) << cbody;
  const Json completion = Json::parse(cbody);
  // The chat prompt is the rendered text without an added BOS (the template
  // writes its own, as apply_chat_template tokenizes); the completion of
  // the same text gets BOS first: one token more, the rest the same.
  EXPECT_EQ(chat["usage"]["prompt_tokens"].get<int>() + 1,
            completion["usage"]["prompt_tokens"].get<int>());
  EXPECT_EQ(chat["usage"]["completion_tokens"], 10);
  EXPECT_EQ(completion["usage"]["completion_tokens"], 10);
}

TEST_F(OpenAiHandlersTest, ChatStreamsDeltasWithTheRoleFirst) {
  OpenAiApi api(&service_, {"tiny", 0});
  const std::string request =
      R"({"model":"tiny","max_tokens":8,"seed":5,"logprobs":true,)"
      R"("top_logprobs":2,"messages":[{"role":"user","content":"Hi"}])";
  auto [status, whole] = Call(api, "/v1/chat/completions", request + "}");
  ASSERT_EQ(status, 200) << whole;
  const Json w = Json::parse(whole);
  const Json& content = w["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), w["usage"]["completion_tokens"].get<size_t>());
  for (const Json& t : content) {
    EXPECT_EQ(t["top_logprobs"].size(), 2u);
    EXPECT_TRUE(t["bytes"].is_array());
  }

  std::string type;
  auto [sstatus, stream] = Call(
      api, "/v1/chat/completions",
      request + R"(,"stream":true,"stream_options":{"include_usage":true}})",
      &type);
  ASSERT_EQ(sstatus, 200);
  EXPECT_THAT(type, HasSubstr("text/event-stream"));
  std::string text;
  int chunks = 0, logprob_tokens = 0;
  bool saw_done = false;
  Json usage, finish;
  size_t at = 0;
  while (at < stream.size()) {
    const size_t end = stream.find("\n\n", at);
    ASSERT_NE(end, std::string::npos);
    const std::string event = stream.substr(at, end - at);
    at = end + 2;
    ASSERT_EQ(event.rfind("data: ", 0), 0u) << event;
    if (event == "data: [DONE]") {
      saw_done = true;
      continue;
    }
    const Json j = Json::parse(event.substr(6));
    EXPECT_EQ(j["object"], "chat.completion.chunk");
    if (j["choices"].empty()) {
      usage = j["usage"];
      continue;
    }
    const Json& c = j["choices"][0];
    if (chunks++ == 0) {
      EXPECT_EQ(c["delta"]["role"], "assistant");
    } else {
      EXPECT_FALSE(c["delta"].contains("role"));
    }
    if (c["delta"].contains("content")) text += c["delta"]["content"];
    if (!c["logprobs"].is_null()) {
      logprob_tokens += static_cast<int>(c["logprobs"]["content"].size());
    }
    if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
  }
  EXPECT_TRUE(saw_done);
  EXPECT_EQ(text, w["choices"][0]["message"]["content"]);
  EXPECT_EQ(usage, w["usage"]);
  EXPECT_EQ(finish, w["choices"][0]["finish_reason"]);
  EXPECT_EQ(logprob_tokens, w["usage"]["completion_tokens"]);
}

TEST_F(OpenAiHandlersTest, RendererErrors) {
  OpenAiApi api(&service_, {"tiny", 0});
  auto [status, body] =
      Call(api, "/v1/chat/completions",
           R"({"model":"tiny","messages":[{"role":"user","content":"fail"}]})");
  EXPECT_EQ(status, 400);
  EXPECT_EQ(Json::parse(body)["error"]["param"], "messages");
  EXPECT_THAT(Json::parse(body)["error"]["message"].get<std::string>(),
              HasSubstr("the template refused it"));
}

class OpenAiHandlersNoTemplateTest : public OpenAiHandlersTest {
 protected:
  ChatRenderer Renderer() override { return nullptr; }
};

TEST_F(OpenAiHandlersNoTemplateTest, ChatIsRefusedNamingTheFix) {
  OpenAiApi bare(&service_, {"tiny", 0});
  auto [status, body] =
      Call(bare, "/v1/chat/completions",
           R"({"model":"tiny","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(status, 400);
  EXPECT_THAT(Json::parse(body)["error"]["message"].get<std::string>(),
              HasSubstr("model tiny has no chat template; supply one with "
                        "--chat-template FILE"));
}

TEST_F(OpenAiHandlersTest, ChatWithoutMaxTokensMayFillTheContext) {
  OpenAiApi api(&service_, {"tiny", 0});
  auto [status, body] =
      Call(api, "/v1/chat/completions",
           R"({"model":"tiny","ignore_eos":true,"temperature":0,)"
           R"("messages":[{"role":"user","content":"Hi"}]})");
  ASSERT_EQ(status, 200) << body;
  const Json j = Json::parse(body);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["total_tokens"], service_.model_info().context_length());
}

}  // namespace
}  // namespace headroom::server::openai
