// From a headroom.v1.GenerateRequest to the engine's GenerateRequest: every
// check a request must pass before it may take a tenant's quota, in one
// place for every front end.
//
//   auto request = BuildEngineRequest(proto, tokenizer, engine.limits());
//   if (!request.ok()) return request.status();  // INVALID_ARGUMENT ...
//   ... tenant quotas, then engine.Submit(*std::move(request), ...)
//
// Order: the prompt's size in bytes (before anything reads it, so a huge
// prompt costs nothing), the proto's own fields (UTF-8, ranges), rendering
// `messages` with the chat template, tokenizing, then the engine's checks
// (context, vocabulary, sampling ranges, and whether the request could ever
// fit the KV pool).
#ifndef HEADROOM_SERVER_REQUEST_VALIDATION_H_
#define HEADROOM_SERVER_REQUEST_VALIDATION_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "headroom/v1/headroom.pb.h"
#include "runtime/tokenizers/tokenizer.h"
#include "server/chat_renderer.h"
#include "server/engine/request.h"
#include "server/engine/request_limits.h"

namespace headroom::server {

// max_tokens when a request leaves it unset.
inline constexpr int kDefaultMaxTokens = 16;

// Checks UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
bool IsValidUtf8(const std::string& text);

// The proto-level checks (UTF-8, proto ranges; exactly one of prompt and
// messages), InvalidArgument naming the field.
absl::Status ValidateGenerateRequest(const v1::GenerateRequest& request);

using ChatMessages = google::protobuf::RepeatedPtrField<v1::ChatMessage>;

// The text a prompt is tokenized from, and how.
struct PromptText {
  std::string text;
  runtime::EncodeOptions encode;
};

// add_generation_prompt of a GenerateRequest or TokenizeRequest: true
// unless the request sets it.
template <typename Request>
bool AddGenerationPrompt(const Request& r) {
  return !r.has_add_generation_prompt() || r.add_generation_prompt();
}

// Each message's checks (a role, UTF-8; InvalidArgument naming
// messages[i].role or messages[i].content), then their bytes together
// against max_prompt_bytes (naming messages).
absl::Status ValidateMessages(const ChatMessages& messages,
                              const RequestLimits& limits);

// `messages` rendered by `chat`, to be tokenized with the messages' bytes as
// plain text and no BOS added (runtime::ChatEncodeOptions): the one place a
// conversation becomes a prompt, for gRPC and OpenAI alike.
// FailedPrecondition naming messages when `chat` is null or empty (the
// model has no chat template); the template's errors with "messages: " in
// front; InvalidArgument when the rendered text is over max_prompt_bytes.
absl::StatusOr<PromptText> RenderMessages(const ChatMessages& messages,
                                          bool add_generation_prompt,
                                          const ChatRenderer* chat,
                                          const RequestLimits& limits);

// All of the checks above, in order, and the engine request they give.
// `seed` is used when the request has none, `default_max_tokens` when it has
// no max_tokens (0: the rest of the context after the prompt, at least 1);
// `prompt` is tokenized with the tokenizer's BOS first, `messages` are
// rendered by `chat` and get none (RenderMessages). Tenant and priority are
// the caller's to set.
absl::StatusOr<GenerateRequest> BuildEngineRequest(
    const v1::GenerateRequest& request, const runtime::Tokenizer& tokenizer,
    const RequestLimits& limits, uint64_t seed,
    int default_max_tokens = kDefaultMaxTokens,
    const ChatRenderer* chat = nullptr);

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_REQUEST_VALIDATION_H_
