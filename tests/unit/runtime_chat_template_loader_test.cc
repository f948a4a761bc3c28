// LoadChatTemplate (tokenizer_config.json: chat_template as a string or as
// a list of named templates, bos/eos tokens as strings, objects or null)
// and LoadChatTemplateFile, on files written here.
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/chat_template/chat_template.h"
#include "tests/test_support.h"

namespace headroom::runtime {
namespace {

using ::testing::HasSubstr;

std::string Write(const std::string& dir, const std::string& name,
                  const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(ChatTemplateLoaderTest, StringTemplateAndTokensFromAModelDirectory) {
  const std::string dir = testing::MakeTempDir("chat_template_loader_dir");
  Write(dir, "tokenizer_config.json", R"({
    "bos_token": "<s>",
    "eos_token": {"content": "</s>", "lstrip": false, "__type": "AddedToken"},
    "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}"
  })");
  absl::StatusOr<LoadedChatTemplate> loaded = LoadChatTemplate(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->options.bos_token, "<s>");
  EXPECT_EQ(loaded->options.eos_token, "</s>");
  absl::StatusOr<std::string> out = loaded->chat_template.Render(
      {{"user", "a"}, {"assistant", "b"}}, loaded->options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "<s>ab</s>");
}

TEST(ChatTemplateLoaderTest, NamedTemplatesUseDefault) {
  const std::string dir = testing::MakeTempDir("chat_template_loader_list");
  const std::string path = Write(dir, "tokenizer_config.json", R"({
    "bos_token": null,
    "chat_template": [
      {"name": "tool_use", "template": "tools"},
      {"name": "default", "template": "plain"}
    ]
  })");
  absl::StatusOr<LoadedChatTemplate> loaded = LoadChatTemplate(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->chat_template.source(), "plain");
  EXPECT_FALSE(loaded->options.bos_token.has_value());
  EXPECT_FALSE(loaded->options.eos_token.has_value());
}

TEST(ChatTemplateLoaderTest, Errors) {
  const std::string dir = testing::MakeTempDir("chat_template_loader_errors");
  absl::StatusOr<LoadedChatTemplate> loaded = LoadChatTemplate(dir);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("tokenizer_config.json: no such file"));

  loaded = LoadChatTemplate(Write(dir, "none.json", R"({"eos_token": "x"})"));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("has no chat_template"));

  loaded = LoadChatTemplate(
      Write(dir, "nodefault.json",
            R"({"chat_template": [{"name": "rag", "template": "x"}]})"));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("no template named \"default\""));

  loaded = LoadChatTemplate(Write(dir, "bad.json", "{not json"));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);

  loaded = LoadChatTemplate(Write(dir, "num.json", R"({"chat_template": 3})"));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);

  loaded = LoadChatTemplate(
      Write(dir, "entry.json", R"({"chat_template": [{"name": "default"}]})"));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);

  loaded = LoadChatTemplate(
      Write(dir, "tok.json", R"({"chat_template": "x", "bos_token": 5})"));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("bos_token is neither a string nor an object"));

  const std::string broken =
      Write(dir, "broken.json", R"({"chat_template": "a\n{% if x %}"})");
  loaded = LoadChatTemplate(broken);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr(broken + ": chat template line 2, column 4: missing"));
}

TEST(ChatTemplateLoaderTest, PlainTemplateFile) {
  const std::string dir = testing::MakeTempDir("chat_template_loader_file");
  // As a --chat-template file would be: one trailing newline, not output.
  const std::string path = Write(dir, "chat.jinja",
                                 "{% for m in messages %}\n[{{ m.role }}] {{ "
                                 "m.content }}\n{% endfor %}\n");
  absl::StatusOr<ChatTemplate> t = LoadChatTemplateFile(path);
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<std::string> out = t->Render({{"user", "hi"}}, {});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "[user] hi\n");

  EXPECT_EQ(LoadChatTemplateFile(dir + "/absent.jinja").status().code(),
            absl::StatusCode::kNotFound);
  const std::string bad = Write(dir, "bad.jinja", "{{ x | }}");
  absl::StatusOr<ChatTemplate> broken = LoadChatTemplateFile(bad);
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(broken.status().message()),
              HasSubstr(bad + ": chat template line 1, column 8"));
}

}  // namespace
}  // namespace headroom::runtime
