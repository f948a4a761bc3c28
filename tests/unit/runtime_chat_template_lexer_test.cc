// chat_template::Tokenize: tokens, whitespace control (trim_blocks and
// lstrip_blocks as transformers sets them), literals and lexing errors.
// Expected values follow Jinja's documented whitespace rules.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/chat_template/lexer.h"

namespace headroom::runtime::chat_template {
namespace {

using ::testing::HasSubstr;

// The text tokens of `source`, concatenated: what the template outputs when
// its tags output nothing.
std::string Texts(std::string_view source) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(source);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  std::string out;
  if (!tokens.ok()) return out;
  for (const Token& t : *tokens) {
    if (t.kind == TokenKind::kText) out += t.text;
  }
  return out;
}

std::vector<Token> Lex(std::string_view source) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(source);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return tokens.ok() ? *tokens : std::vector<Token>();
}

TEST(ChatTemplateLexerTest, ExpressionTokens) {
  const std::vector<Token> t = Lex("a{{ x.y[0] | trim ~ 'q' }}b");
  std::vector<std::string> texts;
  std::vector<TokenKind> kinds;
  for (const Token& tok : t) {
    kinds.push_back(tok.kind);
    texts.push_back(tok.text);
  }
  EXPECT_EQ(kinds, (std::vector<TokenKind>{
                       TokenKind::kText, TokenKind::kVarBegin, TokenKind::kName,
                       TokenKind::kOp, TokenKind::kName, TokenKind::kOp,
                       TokenKind::kInt, TokenKind::kOp, TokenKind::kOp,
                       TokenKind::kName, TokenKind::kOp, TokenKind::kString,
                       TokenKind::kVarEnd, TokenKind::kText, TokenKind::kEof}));
  EXPECT_EQ(texts[2], "x");
  EXPECT_EQ(texts[5], "[");
  EXPECT_EQ(texts[8], "|");
  EXPECT_EQ(texts[11], "q");
}

TEST(ChatTemplateLexerTest, TwoCharacterOperators) {
  const std::vector<Token> t = Lex("{{ a // b ** c == d != e <= f >= g }}");
  std::vector<std::string> ops;
  for (const Token& tok : t) {
    if (tok.kind == TokenKind::kOp) ops.push_back(tok.text);
  }
  EXPECT_EQ(ops,
            (std::vector<std::string>{"//", "**", "==", "!=", "<=", ">="}));
}

TEST(ChatTemplateLexerTest, Numbers) {
  const std::vector<Token> t = Lex("{{ 42 3.5 1_000 2e3 7 }}");
  ASSERT_EQ(t.size(), 8u);
  EXPECT_EQ(t[1].kind, TokenKind::kInt);
  EXPECT_EQ(t[1].int_value, 42);
  EXPECT_EQ(t[2].kind, TokenKind::kFloat);
  EXPECT_EQ(t[2].float_value, 3.5);
  EXPECT_EQ(t[3].int_value, 1000);
  EXPECT_EQ(t[4].kind, TokenKind::kFloat);
  EXPECT_EQ(t[4].float_value, 2000.0);
  EXPECT_EQ(t[5].int_value, 7);
}

TEST(ChatTemplateLexerTest, StringEscapesArePythons) {
  const std::vector<Token> t =
      Lex(R"({{ 'a\nb\t\'q\'' "d\"q\"" '\\' '\x41\u00e9' '\q' }})");
  ASSERT_EQ(t.size(), 8u);
  EXPECT_EQ(t[1].text, "a\nb\t'q'");
  EXPECT_EQ(t[2].text, "d\"q\"");
  EXPECT_EQ(t[3].text, "\\");
  EXPECT_EQ(t[4].text, "A\xc3\xa9");
  EXPECT_EQ(t[5].text, "\\q");  // unknown escapes keep the backslash
}

TEST(ChatTemplateLexerTest, DelimitersInsideStringsAreText) {
  const std::vector<Token> t = Lex("{{ '}} %}' }}");
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[1].text, "}} %}");
}

TEST(ChatTemplateLexerTest, DictBracesDoNotCloseTheTag) {
  const std::vector<Token> t = Lex("{{ {'a': {'b': 1}}}}");
  EXPECT_EQ(t[t.size() - 2].kind, TokenKind::kVarEnd);
}

TEST(ChatTemplateLexerTest, CommentsAreDropped) {
  EXPECT_EQ(Texts("a{# note {{ x }} #}b"), "ab");
}

TEST(ChatTemplateLexerTest, OneTrailingNewlineIsDropped) {
  EXPECT_EQ(Texts("hello\n"), "hello");
  EXPECT_EQ(Texts("hello\n\n"), "hello\n");
}

TEST(ChatTemplateLexerTest, MinusStripsWhitespaceOnItsSide) {
  EXPECT_EQ(Texts("a  \n {%- if x %}"), "a");
  EXPECT_EQ(Texts("{% if x -%} \n\t b"), "b");
  EXPECT_EQ(Texts("a \n{{- x -}}\n b"), "ab");
  EXPECT_EQ(Texts("a \n{#- c -#}\n b"), "ab");
}

TEST(ChatTemplateLexerTest, TrimBlocksDropsTheNewlineAfterABlockTag) {
  EXPECT_EQ(Texts("{% if x %}\nyes\n{% endif %}\nafter"), "yes\nafter");
  // Only one newline, and not after a variable tag.
  EXPECT_EQ(Texts("{% if x %}\n\nyes"), "\nyes");
  EXPECT_EQ(Texts("{{ x }}\nyes"), "\nyes");
  // `+%}` keeps it.
  EXPECT_EQ(Texts("{% if x +%}\nyes"), "\nyes");
}

TEST(ChatTemplateLexerTest, LstripBlocksDropsIndentBeforeABlockTag) {
  EXPECT_EQ(Texts("line\n    {% if x %}\n    body\n    {% endif %}\nend"),
            "line\n    body\nend");
  // At the start of the template too.
  EXPECT_EQ(Texts("  \t{% if x %}a"), "a");
  // Not when text precedes the tag on its line, nor before {{ }}.
  EXPECT_EQ(Texts("x  {% if y %}"), "x  ");
  EXPECT_EQ(Texts("\n  {{ y }}"), "\n  ");
  // `{%+` keeps the indent.
  EXPECT_EQ(Texts("\n  {%+ if y %}"), "\n  ");
  // Comments are stripped like block tags.
  EXPECT_EQ(Texts("a\n   {# c #}\nb"), "a\nb");
}

TEST(ChatTemplateLexerTest, ErrorsNameLineAndColumn) {
  absl::StatusOr<std::vector<Token>> t = Tokenize("ok\n  {{ x");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("line 2, column 3: unterminated '{{'"));

  t = Tokenize("{% if x");
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("line 1, column 1: unterminated '{%'"));
  t = Tokenize("a {# never closed");
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("line 1, column 3: unterminated comment"));
  t = Tokenize("{{ 'abc }}");
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("line 1, column 4: unterminated string literal"));
  t = Tokenize("{{ a ; b }}");
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("line 1, column 6: unexpected character ';'"));
  t = Tokenize("{{ 99999999999999999999 }}");
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("integer literal out of range"));
}

TEST(ChatTemplateLexerTest, DescribePosition) {
  EXPECT_EQ(DescribePosition("ab\ncd\nef", 0), "line 1, column 1");
  EXPECT_EQ(DescribePosition("ab\ncd\nef", 4), "line 2, column 2");
  EXPECT_EQ(DescribePosition("ab\ncd\nef", 6), "line 3, column 1");
}

}  // namespace
}  // namespace headroom::runtime::chat_template
