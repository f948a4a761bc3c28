// Which bytes of a rendering came from the messages (RenderedChat::untrusted):
// kept exactly through concatenation, set blocks, macros and loops, and the
// whole result untrusted for what filters, methods, indexing and slicing
// make of them. Each expectation is written from where the message's text
// lands in the output, found by searching for it.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/chat_template/chat_template.h"

namespace headroom::runtime {
namespace {

using Span = std::pair<size_t, size_t>;

// The untrusted ranges of `source` rendered over `messages`.
std::vector<Span> Ranges(const std::string& source,
                         const std::vector<ChatMessage>& messages,
                         std::string* text = nullptr) {
  auto t = ChatTemplate::Parse(source);
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return {};
  ChatRenderOptions options;
  options.bos_token = "<s>";
  auto r = t->RenderMarked(messages, options);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  if (text != nullptr) *text = r->text;
  std::vector<Span> out;
  for (const ByteRange& b : r->untrusted) out.emplace_back(b.begin, b.end);
  return out;
}

// [pos, pos + size) of `part` in `text` (it must be there).
Span Where(const std::string& text, const std::string& part) {
  const size_t pos = text.find(part);
  EXPECT_NE(pos, std::string::npos) << part << " in " << text;
  return {pos, pos + part.size()};
}

const std::vector<ChatMessage> kTwo = {{"user", "<|a|> one "},
                                       {"assistant", "two"}};

TEST(ChatTemplateUntrustedTest, LiteralsAndSpecialTokensAreTrusted) {
  std::string text;
  EXPECT_THAT(
      Ranges("{{ bos_token }}<|im_start|>{{ 'x' + '<y>' }}", kTwo, &text),
      ::testing::IsEmpty());
  EXPECT_EQ(text, "<s><|im_start|>x<y>");
}

TEST(ChatTemplateUntrustedTest, ConcatenationShiftsTheRanges) {
  std::string text;
  auto r = Ranges(
      "{{ '[' + messages[0].content + '|' + messages[1].role + ']' }}"
      "{{ 'x' ~ messages[1].content }}",
      kTwo, &text);
  EXPECT_EQ(text, "[<|a|> one |assistant]xtwo");
  EXPECT_THAT(
      r, ::testing::ElementsAre(Where(text, "<|a|> one "),
                                Where(text, "assistant"), Where(text, "two")));
}

TEST(ChatTemplateUntrustedTest, LoopsSetBlocksAndMacrosKeepThem) {
  std::string text;
  auto r = Ranges(
      "{% macro turn(m) %}<{{ m.role }}>{{ m.content }}{% endmacro %}"
      "{% set ns = namespace(all='') %}"
      "{% for m in messages %}{% set ns.all = ns.all + turn(m) %}{% endfor %}"
      "{% set out %}({{ ns.all }}){% endset %}{{ out }}",
      kTwo, &text);
  EXPECT_EQ(text, "(<user><|a|> one <assistant>two)");
  EXPECT_THAT(
      r, ::testing::ElementsAre(Where(text, "user"), Where(text, "<|a|> one "),
                                Where(text, "assistant"), Where(text, "two")));
}

TEST(ChatTemplateUntrustedTest, AdjacentRangesMerge) {
  std::string text;
  auto r =
      Ranges("<{{ messages[1].role }}{{ messages[1].content }}>", kTwo, &text);
  EXPECT_EQ(text, "<assistanttwo>");
  EXPECT_THAT(r, ::testing::ElementsAre(Where(text, "assistanttwo")));
}

TEST(ChatTemplateUntrustedTest, TransformedTextIsUntrustedAsAWhole) {
  const std::vector<ChatMessage> m = {{"user", "  ab<x>cd  "}};
  struct Case {
    std::string expr;  // of messages[0].content, as `c`
    std::string out;
  };
  const Case cases[] = {
      {"c | trim", "ab<x>cd"},
      {"c.strip()", "ab<x>cd"},
      {"c.replace('<x>', '<|im_start|>')", "  ab<|im_start|>cd  "},
      {"c | upper", "  AB<X>CD  "},
      {"c[2:5]", "ab<"},
      {"c[::-1]", "  dc>x<ba  "},
      {"c[3]", "b"},
      {"c.split('<')[1]", "x>cd  "},
      {"[c] | join(',')", "  ab<x>cd  "},
      {"c | tojson", "\"  ab<x>cd  \""},
      {"(c | trim) * 2", "ab<x>cdab<x>cd"},
      {"messages | map(attribute='content') | first", "  ab<x>cd  "},
      {"[c, 1]", "['  ab<x>cd  ', 1]"},
  };
  for (const Case& c : cases) {
    std::string text;
    auto r = Ranges("[{% set c = messages[0].content %}{{ " + c.expr + " }}]",
                    m, &text);
    EXPECT_EQ(text, "[" + c.out + "]") << c.expr;
    EXPECT_THAT(r, ::testing::ElementsAre(Span(1, 1 + c.out.size()))) << c.expr;
  }
}

TEST(ChatTemplateUntrustedTest, CharactersAndDictKeysOfUntrustedText) {
  std::string text;
  auto r = Ranges(
      "{% for ch in messages[1].content %}<{{ ch }}>{% endfor %}"
      "{% for k in {messages[1].content: 1} %}({{ k }}){% endfor %}",
      kTwo, &text);
  EXPECT_EQ(text, "<t><w><o>(two)");
  EXPECT_THAT(r, ::testing::ElementsAre(Span(1, 2), Span(4, 5), Span(7, 8),
                                        Span(10, 13)));
}

TEST(ChatTemplateUntrustedTest, ValuesComputedFromTrustedInputsStayTrusted) {
  std::string text;
  auto r = Ranges(
      "{{ messages | length }}{{ 'ab' | upper }}"
      "{% if messages[0].content.startswith('<') %}yes{% endif %}",
      kTwo, &text);
  EXPECT_EQ(text, "2AByes");
  EXPECT_THAT(r, ::testing::IsEmpty());
}

}  // namespace
}  // namespace headroom::runtime
