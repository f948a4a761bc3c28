// The chat renderer /v1/chat/completions calls (handlers.h): the served
// model's chat template, rendered by runtime/chat_template with the
// special tokens of its tokenizer_config.json.
//
// The template is, in order: the text of http.chat_template (--chat-template
// FILE, read at start into ServerConfig::http.chat_template_text), else the
// chat_template of tokenizer_config.json in the model directory. Neither:
// null, and chat answers 400 "model NAME has no chat template; supply one
// with --chat-template FILE".
#ifndef HEADROOM_SERVER_OPENAI_CHAT_RENDERER_H_
#define HEADROOM_SERVER_OPENAI_CHAT_RENDERER_H_

#include <string>

#include "absl/status/statusor.h"
#include "server/openai/handlers.h"

namespace headroom::server::openai {

// InvalidArgument naming http.chat_template when the given text does not
// parse, or the model's tokenizer_config.json when its template does not.
absl::StatusOr<ChatRenderer> MakeChatRenderer(const std::string& template_text,
                                              const std::string& model_path);

}  // namespace headroom::server::openai

#endif  // HEADROOM_SERVER_OPENAI_CHAT_RENDERER_H_
