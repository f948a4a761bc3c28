// The OpenAI API's pure parts: JSON bodies into headroom.v1.GenerateRequest
// (types, unknown and unsupported fields named), the error shape and its
// status mapping, and the response / chunk JSON.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "server/openai/errors.h"
#include "server/openai/request_parser.h"
#include "server/openai/sse.h"

namespace headroom::server::openai {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

std::string ParamOfError(const absl::Status& s) { return FromStatus(s).param; }

TEST(OpenAiRequestParserTest, CompletionFieldsMapToTheProto) {
  auto r = ParseCompletionRequest(R"({
    "model": "m", "prompt": "Hi", "max_tokens": 7, "temperature": 0,
    "top_p": 0.5, "n": 3, "stream": true,
    "stream_options": {"include_usage": true}, "logprobs": 2,
    "stop": "\n", "seed": 42, "presence_penalty": 0.5,
    "frequency_penalty": -0.5, "top_k": -1, "min_p": 0.1,
    "repetition_penalty": 1.2, "min_tokens": 2, "ignore_eos": true,
    "stop_token_ids": [5, 6], "user": "u", "echo": false, "logit_bias": {}})");
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::GenerateRequest& g = r->generate;
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(g.prompt(), "Hi");
  EXPECT_EQ(g.max_tokens(), 7);
  EXPECT_EQ(g.temperature(), 0.0f);
  EXPECT_FLOAT_EQ(g.top_p(), 0.5f);
  EXPECT_EQ(r->n, 3);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_TRUE(r->logprobs);
  EXPECT_EQ(r->top_logprobs, 2);
  EXPECT_EQ(g.logprobs(), 2);
  ASSERT_EQ(g.stop_size(), 1);
  EXPECT_EQ(g.stop(0), "\n");
  EXPECT_EQ(g.seed(), 42u);
  EXPECT_FLOAT_EQ(g.presence_penalty(), 0.5f);
  EXPECT_FLOAT_EQ(g.frequency_penalty(), -0.5f);
  EXPECT_EQ(g.top_k(), 0) << "vLLM's -1 is off";
  EXPECT_FLOAT_EQ(g.min_p(), 0.1f);
  EXPECT_FLOAT_EQ(g.repetition_penalty(), 1.2f);
  EXPECT_EQ(g.min_tokens(), 2);
  EXPECT_TRUE(g.ignore_eos());
  EXPECT_EQ(g.stop_token_ids_size(), 2);
}

TEST(OpenAiRequestParserTest, DefaultsLeaveTheProtoUnset) {
  auto r = ParseCompletionRequest(R"({"model": "m", "prompt": ["Hi"],
                                      "max_tokens": null, "seed": null})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->generate.has_max_tokens());
  EXPECT_FALSE(r->generate.has_seed());
  EXPECT_FALSE(r->generate.has_temperature());
  EXPECT_EQ(r->n, 1);
  EXPECT_FALSE(r->logprobs);
  EXPECT_EQ(r->generate.logprobs(), 0);
  // logprobs 0: the tokens' own logprobs, no alternatives.
  r = ParseCompletionRequest(R"({"model":"m","prompt":"x","logprobs":0})");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->logprobs);
  EXPECT_EQ(r->top_logprobs, 0);
  EXPECT_EQ(r->generate.logprobs(), 1);
}

TEST(OpenAiRequestParserTest, MaxCompletionTokensIsMaxTokens) {
  auto r = ParseChatRequest(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],
          "max_completion_tokens": 9})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->generate.max_tokens(), 9);
  r = ParseChatRequest(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],
          "max_completion_tokens": 9, "max_tokens": 8})");
  EXPECT_FALSE(r.ok());
}

TEST(OpenAiRequestParserTest, ChatMessagesAndLogprobs) {
  auto r = ParseChatRequest(R"({"model":"m","messages":[
      {"role":"system","content":"Be brief."},
      {"role":"user","content":[{"type":"text","text":"Hi "},
                                {"type":"text","text":"there"}]}],
      "logprobs": true, "top_logprobs": 3})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[1].content, "Hi there");
  EXPECT_TRUE(r->logprobs);
  EXPECT_EQ(r->top_logprobs, 3);
  EXPECT_EQ(r->generate.logprobs(), 3);
}

TEST(OpenAiRequestParserTest, ErrorsNameTheParameter) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"prompt":"x"})", "model"},
      {R"({"model":"m"})", "prompt"},
      {R"({"model":"m","prompt":"x","tools":[{"type":"function"}]})", "tools"},
      {R"({"model":"m","prompt":"x","response_format":{"type":"json_object"}})",
       "response_format"},
      {R"({"model":"m","prompt":"x","logit_bias":{"5":1}})", "logit_bias"},
      {R"({"model":"m","prompt":"x","echo":true})", "echo"},
      {R"({"model":"m","prompt":"x","frobnicate":1})", "frobnicate"},
      {R"({"model":"m","prompt":"x","max_tokens":"5"})", "max_tokens"},
      {R"({"model":"m","prompt":"x","max_tokens":1.5})", "max_tokens"},
      {R"({"model":"m","prompt":"x","temperature":"hot"})", "temperature"},
      {R"({"model":"m","prompt":"x","n":0})", "n"},
      {R"({"model":"m","prompt":"x","n":17})", "n"},
      {R"({"model":"m","prompt":"x","stop":[1]})", "stop"},
      {R"({"model":"m","prompt":"x","stream_options":{"include_usage":true}})",
       "stream_options"},
      {R"({"model":"m","prompt":"x","logprobs":21})", "logprobs"},
      {R"({"model":"m","prompt":["a","b"]})", "prompt"},
      {R"({"model":"m","prompt":[1,2,3]})", "prompt"},
      {R"({"model":"m","prompt":"x","seed":1e300})", "seed"},
  };
  for (const auto& [body, param] : cases) {
    auto r = ParseCompletionRequest(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(ParamOfError(r.status()), param) << body << ": " << r.status();
  }
  const std::vector<std::pair<std::string, std::string>> chat = {
      {R"({"model":"m","messages":[]})", "messages"},
      {R"({"model":"m","messages":[{"role":"robot","content":"x"}]})",
       "messages"},
      {R"({"model":"m","messages":[{"role":"user"}]})", "messages"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],
           "tool_choice":"auto"})",
       "tool_choice"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],
           "top_logprobs":2})",
       "top_logprobs"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],
           "logprobs":2})",
       "logprobs"},
  };
  for (const auto& [body, param] : chat) {
    auto r = ParseChatRequest(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(ParamOfError(r.status()), param) << body << ": " << r.status();
  }
}

TEST(OpenAiRequestParserTest, MalformedBodies) {
  for (const char* body : {"", "{", "[]", "null", "1", "\"x\"", "{\"a\":}"}) {
    auto r = ParseCompletionRequest(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(OpenAiRequestParserTest, TokenizeAndDetokenizeBodies) {
  auto t =
      ParseTokenizeRequest(R"({"prompt":"hi","add_special_tokens":false})");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->prompt, "hi");
  EXPECT_FALSE(t->add_special_tokens);
  EXPECT_FALSE(ParseTokenizeRequest(R"({"text":"hi"})").ok());
  auto d = ParseDetokenizeRequest(R"({"model":"m","tokens":[1,2,3]})");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->tokens, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(ParamOfError(ParseDetokenizeRequest(R"({"tokens":[-1]})").status()),
            "tokens");
}

TEST(OpenAiErrorsTest, StatusMapping) {
  struct Case {
    absl::Status status;
    int http;
    std::string type;
  };
  const std::vector<Case> cases = {
      {absl::InvalidArgumentError("temperature must be >= 0"), 400,
       "invalid_request_error"},
      {absl::UnauthenticatedError("unknown API key"), 401,
       "authentication_error"},
      {absl::NotFoundError("model \"x\" does not exist"), 404,
       "not_found_error"},
      {absl::ResourceExhaustedError("tokens_per_minute: ..."), 429,
       "rate_limit_error"},
      {absl::UnavailableError("loading"), 503, "service_unavailable_error"},
      {absl::InternalError("boom"), 500, "server_error"},
  };
  for (const Case& c : cases) {
    const ApiError e = FromStatus(c.status);
    EXPECT_EQ(e.status, c.http) << c.status;
    EXPECT_EQ(e.type, c.type) << c.status;
    const Json j = Json::parse(ErrorJson(e));
    EXPECT_EQ(j["error"]["message"], std::string(c.status.message()));
    EXPECT_TRUE(j["error"].contains("param"));
    EXPECT_TRUE(j["error"].contains("code"));
  }
  EXPECT_EQ(
      FromStatus(absl::InvalidArgumentError("temperature must be >= 0")).param,
      "temperature");
  EXPECT_EQ(FromStatus(absl::InvalidArgumentError("stop[0] is empty")).param,
            "stop");
  EXPECT_EQ(FromStatus(absl::InvalidArgumentError("the prompt is long")).param,
            "");
  EXPECT_EQ(FromStatus(absl::UnauthenticatedError("x")).code,
            "invalid_api_key");
}

TEST(OpenAiSseTest, Framing) {
  EXPECT_EQ(SseEvent("{\"a\":1}"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(SseEvent("[DONE]"), "data: [DONE]\n\n");
}

}  // namespace
}  // namespace headroom::server::openai
