#include "runtime/chat_template/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/chat_template/ast.h"
#include "runtime/chat_template/evaluator.h"
#include "runtime/chat_template/lexer.h"
#include "runtime/chat_template/parser.h"
#include "runtime/chat_template/status_macros.h"

namespace headroom::runtime {

namespace ct = chat_template;

struct ChatTemplate::Impl {
  std::string source;
  ct::Body body;
};

absl::StatusOr<ChatTemplate> ChatTemplate::Parse(std::string_view source) {
  if (source.size() > kMaxSourceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("chat template of ", source.size(), " bytes; at most ",
                     kMaxSourceBytes, " are accepted"));
  }
  auto impl = std::make_shared<Impl>();
  impl->source = std::string(source);
  CT_ASSIGN_OR_RETURN(std::vector<ct::Token> tokens,
                      ct::Tokenize(impl->source));
  CT_ASSIGN_OR_RETURN(impl->body, ct::Parse(tokens, impl->source));
  return ChatTemplate(std::move(impl));
}

const std::string& ChatTemplate::source() const { return impl_->source; }

EncodeOptions ChatEncodeOptions(const RenderedChat& chat) {
  EncodeOptions options;
  options.add_special_tokens = false;
  options.parse_special = true;
  options.plain_text = chat.untrusted;
  return options;
}

absl::StatusOr<std::string> ChatTemplate::Render(
    const std::vector<ChatMessage>& messages,
    const ChatRenderOptions& options) const {
  CT_ASSIGN_OR_RETURN(RenderedChat rendered, RenderMarked(messages, options));
  return std::move(rendered.text);
}

absl::StatusOr<RenderedChat> ChatTemplate::RenderMarked(
    const std::vector<ChatMessage>& messages,
    const ChatRenderOptions& options) const {
  ct::ValueDict globals;
  ct::ValueList list;
  list.reserve(messages.size());
  for (const ChatMessage& m : messages) {
    ct::ValueDict d;
    d.Set("role", ct::Value::Untrusted(m.role));
    d.Set("content", ct::Value::Untrusted(m.content));
    list.push_back(ct::Value::Dict(std::move(d)));
  }
  globals.Set("messages", ct::Value::List(std::move(list)));
  globals.Set("add_generation_prompt",
              ct::Value::Bool(options.add_generation_prompt));
  if (options.bos_token.has_value()) {
    globals.Set("bos_token", ct::Value::String(*options.bos_token));
  }
  if (options.eos_token.has_value()) {
    globals.Set("eos_token", ct::Value::String(*options.eos_token));
  }
  for (const auto& [name, value] : options.extra) {
    if (name == "messages" || name == "add_generation_prompt" ||
        name == "bos_token" || name == "eos_token") {
      return absl::InvalidArgumentError(absl::StrCat(
          "chat template variable '", name,
          "' is set by the options; it cannot be an extra variable"));
    }
    globals.Set(name, value);
  }
  ct::EvalLimits limits;
  limits.max_output_bytes = options.max_output_bytes;
  limits.max_steps = options.max_steps;
  return ct::Evaluate(impl_->body, impl_->source, globals, limits);
}

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// bos_token / eos_token: a string, {"content": string, ...}, or null.
absl::StatusOr<std::optional<std::string>> SpecialToken(
    const nlohmann::json& config, const char* key, const std::string& path) {
  if (!config.contains(key) || config[key].is_null()) {
    return std::optional<std::string>();
  }
  const nlohmann::json& v = config[key];
  if (v.is_string()) return std::optional<std::string>(v.get<std::string>());
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return std::optional<std::string>(v["content"].get<std::string>());
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path, ": ", key, " is neither a string nor an object with \"content\""));
}

}  // namespace

absl::StatusOr<LoadedChatTemplate> LoadChatTemplate(const std::string& path) {
  std::error_code ec;
  std::string file = path;
  if (std::filesystem::is_directory(path, ec)) {
    file = (std::filesystem::path(path) / "tokenizer_config.json").string();
  }
  CT_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  const nlohmann::json config =
      nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": not a JSON object"));
  }
  if (!config.contains("chat_template") || config["chat_template"].is_null()) {
    return absl::NotFoundError(absl::StrCat(file, " has no chat_template"));
  }
  const nlohmann::json& t = config["chat_template"];
  std::string source;
  if (t.is_string()) {
    source = t.get<std::string>();
  } else if (t.is_array()) {
    bool found = false;
    for (const nlohmann::json& entry : t) {
      if (!entry.is_object() || !entry.contains("name") ||
          !entry["name"].is_string() || !entry.contains("template") ||
          !entry["template"].is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(file,
                         ": chat_template entries must be {\"name\": string, "
                         "\"template\": string}"));
      }
      if (entry["name"].get<std::string>() == "default") {
        source = entry["template"].get<std::string>();
        found = true;
      }
    }
    if (!found) {
      return absl::NotFoundError(
          absl::StrCat(file,
                       ": chat_template has no template named "
                       "\"default\""));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": chat_template is neither a string nor a list of templates"));
  }
  absl::StatusOr<ChatTemplate> parsed = ChatTemplate::Parse(source);
  if (!parsed.ok()) {
    return absl::Status(
        parsed.status().code(),
        absl::StrCat(file, ": ", std::string(parsed.status().message())));
  }
  LoadedChatTemplate loaded{std::move(*parsed), ChatRenderOptions()};
  CT_ASSIGN_OR_RETURN(loaded.options.bos_token,
                      SpecialToken(config, "bos_token", file));
  CT_ASSIGN_OR_RETURN(loaded.options.eos_token,
                      SpecialToken(config, "eos_token", file));
  return loaded;
}

absl::StatusOr<ChatTemplate> LoadChatTemplateFile(const std::string& path) {
  CT_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  absl::StatusOr<ChatTemplate> parsed = ChatTemplate::Parse(text);
  if (!parsed.ok()) {
    return absl::Status(
        parsed.status().code(),
        absl::StrCat(path, ": ", std::string(parsed.status().message())));
  }
  return parsed;
}

}  // namespace headroom::runtime
