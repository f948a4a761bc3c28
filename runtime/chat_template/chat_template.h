// Chat templates: the Jinja template in a model's tokenizer_config.json
// ("chat_template") that turns a conversation into the prompt text, rendered
// as Hugging Face transformers renders it (Jinja2 with trim_blocks and
// lstrip_blocks on, keep_trailing_newline off). The Jinja subset this module
// implements is listed in parser.h, builtins.h and evaluator.h; the bounds
// on rendering in evaluator.h. docs/decisions.md says why it is written
// here.
//
//   absl::StatusOr<LoadedChatTemplate> t = LoadChatTemplate(model_dir);
//   ChatRenderOptions options = t->options;
//   options.add_generation_prompt = true;
//   absl::StatusOr<RenderedChat> prompt = t->chat_template.RenderMarked(
//       {{"system", "Be brief."}, {"user", "Hi"}}, options);
//   ids = tokenizer.EncodeWithOptions(prompt->text,
//   ChatEncodeOptions(*prompt));
#ifndef HEADROOM_RUNTIME_CHAT_TEMPLATE_CHAT_TEMPLATE_H_
#define HEADROOM_RUNTIME_CHAT_TEMPLATE_CHAT_TEMPLATE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/chat_template/value.h"
#include "runtime/tokenizers/tokenizer.h"

namespace headroom::runtime {

// A rendered conversation: the prompt text, and the byte ranges of it that
// came from the messages (their roles and contents, and what the template
// made of them), which must not become special tokens.
using RenderedChat = chat_template::MarkedText;

// How a rendered conversation is tokenized: the template's own added and
// special tokens parsed, the messages' bytes as plain text, and nothing
// added around it (the template writes BOS, as Hugging Face's
// apply_chat_template tokenizes without add_special_tokens).
EncodeOptions ChatEncodeOptions(const RenderedChat& chat);

struct ChatMessage {
  std::string role;
  std::string content;
};

struct ChatRenderOptions {
  bool add_generation_prompt = false;
  // Absent: the template sees them undefined (as transformers leaves a
  // special token the tokenizer does not have).
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  // More top-level names (tools, enable_thinking, date_string, ...);
  // chat_template::ValueFromJson builds values from JSON. They may not be
  // named messages, add_generation_prompt, bos_token or eos_token.
  std::vector<std::pair<std::string, chat_template::Value>> extra;
  // Bounds (ResourceExhausted past them): output bytes, and units of work
  // (evaluator.h).
  size_t max_output_bytes = 4 << 20;
  int64_t max_steps = 20'000'000;
};

class ChatTemplate {
 public:
  // InvalidArgument ("chat template line L, column C: ...") when `source`
  // does not lex or parse, or uses a statement this subset lacks. Sources
  // over kMaxSourceBytes are InvalidArgument too.
  static absl::StatusOr<ChatTemplate> Parse(std::string_view source);

  // The prompt for `messages`. InvalidArgument naming the line and column
  // for type errors, unknown filters or tests, undefined values used as
  // objects, and raise_exception(msg) (its message included);
  // ResourceExhausted past the options' bounds.
  absl::StatusOr<std::string> Render(const std::vector<ChatMessage>& messages,
                                     const ChatRenderOptions& options) const;
  // The same text with the ranges that came from the messages' roles and
  // contents (chat_template/untrusted.h says how they are followed).
  absl::StatusOr<RenderedChat> RenderMarked(
      const std::vector<ChatMessage>& messages,
      const ChatRenderOptions& options) const;

  const std::string& source() const;

  static constexpr size_t kMaxSourceBytes = 1 << 20;

 private:
  struct Impl;
  explicit ChatTemplate(std::shared_ptr<const Impl> impl)
      : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

struct LoadedChatTemplate {
  ChatTemplate chat_template;
  // bos_token and eos_token from tokenizer_config.json (a string, or an
  // object with "content"); absent when the file has none or null.
  ChatRenderOptions options;
};

// `path` is a model directory (its tokenizer_config.json is read) or a
// tokenizer_config.json file. chat_template is a string, or a list of
// {"name", "template"} objects of which "default" is used. NotFound when
// the file is missing or has no chat template (naming it), InvalidArgument
// when it is not JSON, has the wrong types, or the template does not parse.
absl::StatusOr<LoadedChatTemplate> LoadChatTemplate(const std::string& path);

// A template given as a file of its own (Jinja source, e.g. for a
// --chat-template flag). NotFound when missing; InvalidArgument when it
// does not parse.
absl::StatusOr<ChatTemplate> LoadChatTemplateFile(const std::string& path);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_CHAT_TEMPLATE_CHAT_TEMPLATE_H_
