#include "server/openai/chat_renderer.h"

#include "absl/strings/str_cat.h"

namespace headroom::server::openai {

ChatRenderer MakeChatRenderer(const std::string& template_text,
                              const runtime::Tokenizer* tokenizer) {
  if (template_text.empty()) return nullptr;
  // TODO(lead): hand template_text to the chat-template module here.
  const size_t bytes = template_text.size();
  return [bytes](const std::vector<ChatMessage>&,
                 bool) -> absl::StatusOr<std::string> {
    return absl::UnimplementedError(absl::StrCat(
        "a chat template of ", bytes,
        " bytes was given, but this build cannot render chat templates yet"));
  };
}

}  // namespace headroom::server::openai
