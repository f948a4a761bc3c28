// THE CHAT-TEMPLATE HOOK: the one place where headroom-server turns the
// chat template text (http.chat_template / --chat-template FILE, read at
// start into ServerConfig::http.chat_template_text) into the ChatRenderer
// that /v1/chat/completions calls (handlers.h).
//
// Until the chat-template module lands this returns null without a
// template (chat answers 400 "model NAME has no chat template; supply one
// with --chat-template FILE") and, with one, a renderer that answers 501
// (UNIMPLEMENTED) saying so. The module's integration replaces the body of
// MakeChatRenderer: build the template once from `template_text`, return a
// lambda that renders `messages` with add_generation_prompt and the
// tokenizer's special tokens.
#ifndef HEADROOM_SERVER_OPENAI_CHAT_RENDERER_H_
#define HEADROOM_SERVER_OPENAI_CHAT_RENDERER_H_

#include <string>

#include "runtime/tokenizers/tokenizer.h"
#include "server/openai/handlers.h"

namespace headroom::server::openai {

ChatRenderer MakeChatRenderer(const std::string& template_text,
                              const runtime::Tokenizer* tokenizer);

}  // namespace headroom::server::openai

#endif  // HEADROOM_SERVER_OPENAI_CHAT_RENDERER_H_
