// OpenAI's response objects as JSON text: text_completion and
// chat.completion (whole), their stream chunks, usage, logprobs in each
// endpoint's shape, the model list and the tokenizer answers. Pure
// functions of their inputs (and the tokenizer, for token strings).
#ifndef HEADROOM_SERVER_OPENAI_RESPONSE_JSON_H_
#define HEADROOM_SERVER_OPENAI_RESPONSE_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/sampling/sampler.h"
#include "runtime/tokenizers/tokenizer.h"
#include "server/engine/request.h"
#include "server/openai/request_parser.h"

namespace headroom::server::openai {

// What every object of one request shares.
struct ResponseHead {
  std::string id;       // cmpl-... or chatcmpl-...
  int64_t created = 0;  // Unix seconds
  std::string model;
  Endpoint endpoint = Endpoint::kCompletions;
  bool logprobs = false;  // report them
  int top_logprobs = 0;   // alternatives per token
};

struct ApiUsage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  // Prompt tokens served from the prefix cache (OpenAI's
  // usage.prompt_tokens_details.cached_tokens).
  int cached_tokens = 0;
};

// Generated tokens with their logprobs, and the token before the first
// (for the token strings: tokenizers render a piece by what precedes it).
struct TokenRun {
  std::vector<runtime::SampledToken> tokens;
  int prev_token = 0;
};

struct Choice {
  int index = 0;
  std::string text;
  TokenRun logprobs;
  std::optional<FinishReason> finish;  // unset: still running (chunks)
};

// "stop" (EOS, stop string or id), "length", "abort" (cancelled) or
// "error".
const char* FinishReasonText(FinishReason reason);

// The whole response: text_completion or chat.completion.
std::string CompletionJson(const ResponseHead& head,
                           const std::vector<Choice>& choices,
                           const ApiUsage& usage,
                           const runtime::Tokenizer& tokenizer);

// One stream chunk with one choice. `first` (chat): the delta carries the
// role. `usage_null`: "usage": null is written (include_usage streams).
std::string ChunkJson(const ResponseHead& head, const Choice& choice,
                      bool first, bool usage_null,
                      const runtime::Tokenizer& tokenizer);
// The include_usage chunk: no choices, the usage.
std::string UsageChunkJson(const ResponseHead& head, const ApiUsage& usage);

// GET /v1/models (one model) and GET /v1/models/NAME.
std::string ModelJson(const std::string& name, int64_t created,
                      int max_model_len);
std::string ModelListJson(const std::string& name, int64_t created,
                          int max_model_len);

std::string TokenizeJson(const std::vector<int>& tokens, int max_model_len);
std::string DetokenizeJson(const std::string& text);

}  // namespace headroom::server::openai

#endif  // HEADROOM_SERVER_OPENAI_RESPONSE_JSON_H_
