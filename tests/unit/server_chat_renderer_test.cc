// MakeChatRenderer: which template the served model renders messages with,
// and its refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "server/chat_renderer.h"
#include "tests/test_support.h"

namespace headroom::server {
namespace {

using ::testing::HasSubstr;

constexpr char kTemplate[] =
    "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}"
    "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(ChatRendererTest, NoTemplateAnywhereIsNull) {
  const std::string dir = ::headroom::testing::MakeTempDir("no-template");
  auto r = MakeChatRenderer("", dir);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, nullptr);
  auto file = MakeChatRenderer("", dir + "/model.bin");  // not a directory
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(*file, nullptr);
}

TEST(ChatRendererTest, ModelTemplateWithItsSpecialTokens) {
  const std::string dir = ::headroom::testing::MakeTempDir("model-template");
  WriteFile(dir + "/tokenizer_config.json",
            R"({"chat_template": ")" + std::string(kTemplate) +
                R"(", "bos_token": "<s>", "eos_token": "</s>"})");
  auto r = MakeChatRenderer("", dir);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(*r, nullptr);
  auto text = (*r)({{"system", "Be brief."}, {"user", "Hi {{ x }}"}}, true);
  ASSERT_TRUE(text.ok()) << text.status();
  // Message contents are values, never template text.
  EXPECT_EQ(text->text, "<s><system>Be brief.<user>Hi {{ x }}<assistant>");
  // The roles and contents are marked: bytes [4, 10) "system", [11, 20)
  // "Be brief.", [21, 25) "user", [26, 36) "Hi {{ x }}".
  ASSERT_EQ(text->untrusted.size(), 4u);
  EXPECT_EQ(text->untrusted[0].begin, 4u);
  EXPECT_EQ(text->untrusted[0].end, 10u);
  EXPECT_EQ(text->untrusted[3].begin, 26u);
  EXPECT_EQ(text->untrusted[3].end, 36u);
  auto open = (*r)({{"user", "Hi"}}, false);
  EXPECT_EQ(open->text, "<s><user>Hi");
}

// --chat-template overrides the model's template; the model's BOS stays.
TEST(ChatRendererTest, GivenTemplateOverridesTheModels) {
  const std::string dir = ::headroom::testing::MakeTempDir("override");
  WriteFile(dir + "/tokenizer_config.json",
            R"({"chat_template": "model's", "bos_token": "<s>"})");
  auto r = MakeChatRenderer("[{{ bos_token }}{{ messages[0].content }}]", dir);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)({{"user", "x"}}, true)->text, "[<s>x]");
}

TEST(ChatRendererTest, TemplatesThatDoNotParseAreRefused) {
  const std::string dir = ::headroom::testing::MakeTempDir("bad-template");
  auto bad = MakeChatRenderer("{% for m in messages %}", dir);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("http.chat_template"));
  WriteFile(dir + "/tokenizer_config.json", R"({"chat_template": "{% if %}"})");
  auto model = MakeChatRenderer("", dir);
  EXPECT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("tokenizer_config.json"));
  // A template that raises names its message at render time.
  auto raises = MakeChatRenderer(
      "{{ raise_exception('roles must alternate') }}", dir + "/none");
  ASSERT_TRUE(raises.ok());
  auto text = (*raises)({{"user", "x"}}, true);
  EXPECT_THAT(text.status().message(), HasSubstr("roles must alternate"));
}

}  // namespace
}  // namespace headroom::server
