// The served model's chat renderer: a conversation into prompt text with
// the model's chat template (runtime/chat_template), the bytes that came
// from the messages marked (RenderedChat::untrusted) so that tokenizing it
// with runtime::ChatEncodeOptions leaves the special tokens they spell as
// plain text. Both APIs reach it through the service: gRPC's
// GenerateRequest.messages / TokenizeRequest.messages and OpenAI's
// /v1/chat/completions (request_validation.h: RenderMessages).
//
// The template is, in order: the text of http.chat_template (--chat-template
// FILE, read at start into ServerConfig::http.chat_template_text), else the
// chat_template of tokenizer_config.json in the model directory, rendered
// with that file's bos_token / eos_token. Neither: null (messages are
// refused, naming the fix).
#ifndef HEADROOM_SERVER_CHAT_RENDERER_H_
#define HEADROOM_SERVER_CHAT_RENDERER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/chat_template/chat_template.h"

namespace headroom::server {

// Renders messages (add_generation_prompt: end with the assistant's turn
// opened). InvalidArgument when the template refuses them
// (raise_exception) or fails on them.
using ChatRenderer = std::function<absl::StatusOr<runtime::RenderedChat>(
    const std::vector<runtime::ChatMessage>& messages,
    bool add_generation_prompt)>;

// InvalidArgument naming http.chat_template when the given text does not
// parse, or the model's tokenizer_config.json when its template does not.
absl::StatusOr<ChatRenderer> MakeChatRenderer(const std::string& template_text,
                                              const std::string& model_path);

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_CHAT_RENDERER_H_
