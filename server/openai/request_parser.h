// JSON bodies of the OpenAI-compatible API into the same
// headroom.v1.GenerateRequest the gRPC API takes, so that one function
// (request_validation.h, BuildEngineRequest) checks both front ends. This
// file checks only what is JSON-shaped (types, which fields exist, what
// the proto cannot say); ranges are BuildEngineRequest's.
//
// Fields: OpenAI's (model, prompt | messages, max_tokens,
// max_completion_tokens, temperature, top_p, n, stream, stream_options,
// logprobs, top_logprobs, stop, seed, presence_penalty, frequency_penalty,
// user) and vLLM's extras (top_k, min_p, repetition_penalty, min_tokens,
// ignore_eos, stop_token_ids). A known field that is not supported (tools,
// response_format, logit_bias, echo, ...) and a field that is not known at
// all are InvalidArgument naming it: a request is never served with a part
// of it silently dropped. null is the same as leaving a field out.
#ifndef HEADROOM_SERVER_OPENAI_REQUEST_PARSER_H_
#define HEADROOM_SERVER_OPENAI_REQUEST_PARSER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "headroom/v1/headroom.pb.h"

namespace headroom::server::openai {

// The most choices (n) one request may ask for.
inline constexpr int kMaxChoices = 16;

struct ChatMessage {
  std::string role;  // system | user | assistant | developer | tool
  std::string content;
};

enum class Endpoint { kCompletions, kChat };

struct ParsedRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  // The prompt is set for completions; chat fills it after rendering.
  v1::GenerateRequest generate;
  std::vector<ChatMessage> messages;  // chat
  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // Completions: logprobs N (reported when set, N alternatives). Chat:
  // logprobs true, top_logprobs N.
  bool logprobs = false;
  int top_logprobs = 0;
};

absl::StatusOr<ParsedRequest> ParseCompletionRequest(std::string_view body);
absl::StatusOr<ParsedRequest> ParseChatRequest(std::string_view body);

// POST /tokenize: {"model"?, "prompt", "add_special_tokens"? (default true)}.
struct TokenizeBody {
  std::string model;
  std::string prompt;
  bool add_special_tokens = true;
};
absl::StatusOr<TokenizeBody> ParseTokenizeRequest(std::string_view body);

// POST /detokenize: {"model"?, "tokens": [ids]}.
struct DetokenizeBody {
  std::string model;
  std::vector<int> tokens;
};
absl::StatusOr<DetokenizeBody> ParseDetokenizeRequest(std::string_view body);

}  // namespace headroom::server::openai

#endif  // HEADROOM_SERVER_OPENAI_REQUEST_PARSER_H_
