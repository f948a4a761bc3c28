#include "server/chat_renderer.h"

#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/chat_template/chat_template.h"

namespace headroom::server {

absl::StatusOr<ChatRenderer> MakeChatRenderer(const std::string& template_text,
                                              const std::string& model_path) {
  // The model directory's tokenizer_config.json: its template and its BOS
  // and EOS strings (which a template of the user's sees too).
  std::optional<runtime::LoadedChatTemplate> from_model;
  std::error_code ec;
  if (std::filesystem::is_directory(model_path, ec)) {
    auto loaded = runtime::LoadChatTemplate(model_path);
    if (loaded.ok()) {
      from_model = *std::move(loaded);
    } else if (!absl::IsNotFound(loaded.status())) {
      return loaded.status();
    }
  }
  std::optional<runtime::ChatTemplate> chat_template;
  if (!template_text.empty()) {
    auto parsed = runtime::ChatTemplate::Parse(template_text);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("http.chat_template: ", parsed.status().message()));
    }
    chat_template = *std::move(parsed);
  } else if (from_model.has_value()) {
    chat_template = from_model->chat_template;
  } else {
    return ChatRenderer(nullptr);
  }
  const runtime::ChatRenderOptions base = from_model.has_value()
                                              ? from_model->options
                                              : runtime::ChatRenderOptions{};
  return ChatRenderer(
      [chat_template = *std::move(chat_template), base](
          const std::vector<runtime::ChatMessage>& messages,
          bool add_generation_prompt) -> absl::StatusOr<runtime::RenderedChat> {
        runtime::ChatRenderOptions options = base;
        options.add_generation_prompt = add_generation_prompt;
        return chat_template.RenderMarked(messages, options);
      });
}

}  // namespace headroom::server
