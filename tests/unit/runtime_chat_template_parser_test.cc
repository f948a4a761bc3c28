// chat_template::Parse: the tree of expressions (Jinja's precedence) and
// statements, and the parse errors. Trees are compared as S-expressions.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/chat_template/lexer.h"
#include "runtime/chat_template/parser.h"

namespace headroom::runtime::chat_template {
namespace {

using ::testing::HasSubstr;

std::string Dump(const Expr* e) {
  if (e == nullptr) return "_";
  auto args = [&](size_t from) {
    std::string s;
    for (size_t i = from; i < e->args.size(); ++i) {
      absl::StrAppend(&s, " ", Dump(e->args[i].get()));
    }
    for (const auto& [k, v] : e->kwargs) {
      absl::StrAppend(&s, " ", k, "=", Dump(v.get()));
    }
    return s;
  };
  switch (e->kind) {
    case Expr::Kind::kLiteral:
      return *ToPythonRepr(e->literal);
    case Expr::Kind::kName:
      return e->name;
    case Expr::Kind::kList:
      return absl::StrCat("(list", args(0), ")");
    case Expr::Kind::kDict:
      return absl::StrCat("(dict", args(0), ")");
    case Expr::Kind::kGetAttr:
      return absl::StrCat("(. ", Dump(e->args[0].get()), " ", e->name, ")");
    case Expr::Kind::kGetItem:
      return absl::StrCat("([] ", Dump(e->args[0].get()), " ",
                          Dump(e->args[1].get()), ")");
    case Expr::Kind::kSlice:
      return absl::StrCat("(slice", args(0), ")");
    case Expr::Kind::kCall:
      return absl::StrCat("(call", args(0), ")");
    case Expr::Kind::kFilter:
      return absl::StrCat("(|", e->name, args(0), ")");
    case Expr::Kind::kTest:
      return absl::StrCat("(is", e->negated ? "-not " : " ", e->name, args(0),
                          ")");
    case Expr::Kind::kUnary:
    case Expr::Kind::kBinary:
      return absl::StrCat("(", e->name, args(0), ")");
    case Expr::Kind::kAnd:
      return absl::StrCat("(and", args(0), ")");
    case Expr::Kind::kOr:
      return absl::StrCat("(or", args(0), ")");
    case Expr::Kind::kCond:
      return absl::StrCat("(if", args(0), ")");
  }
  return "?";
}

absl::StatusOr<Body> ParseSource(std::string_view source) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(source);
  if (!tokens.ok()) return tokens.status();
  return Parse(*tokens, source);
}

// The tree of the one expression in "{{ expr }}".
std::string ExprTree(const std::string& expr) {
  absl::StatusOr<Body> body = ParseSource("{{ " + expr + " }}");
  if (!body.ok()) return std::string(body.status().message());
  if (body->size() != 1 || (*body)[0]->kind != Stmt::Kind::kOutput) {
    return "not one output";
  }
  return Dump((*body)[0]->expr.get());
}

TEST(ChatTemplateParserTest, ArithmeticPrecedence) {
  EXPECT_EQ(ExprTree("1 + 2 * 3"), "(+ 1 (* 2 3))");
  EXPECT_EQ(ExprTree("(1 + 2) * 3"), "(* (+ 1 2) 3)");
  EXPECT_EQ(ExprTree("1 - 2 - 3"), "(- (- 1 2) 3)");
  EXPECT_EQ(ExprTree("2 ** 3 ** 2"), "(** (** 2 3) 2)");  // Jinja: left
  EXPECT_EQ(ExprTree("-2 ** 2"), "(** (- 2) 2)");
  EXPECT_EQ(ExprTree("a ~ b + c"), "(+ (~ a b) c)");  // ~ is tighter
  EXPECT_EQ(ExprTree("a + b ~ c"), "(+ a (~ b c))");
  EXPECT_EQ(ExprTree("7 // 2 % 3"), "(% (// 7 2) 3)");
}

TEST(ChatTemplateParserTest, FiltersBindTighterThanOperators) {
  // LLaMA 3's `'...' + message['content'] | trim + '<|eot_id|>'`.
  EXPECT_EQ(ExprTree("'a' + m['content'] | trim + 'b'"),
            "(+ (+ 'a' (|trim ([] m 'content'))) 'b')");
  EXPECT_EQ(ExprTree("messages | length - 1"), "(- (|length messages) 1)");
  EXPECT_EQ(ExprTree("x | replace('a', 'b') | upper"),
            "(|upper (|replace x 'a' 'b'))");
  EXPECT_EQ(ExprTree("x | tojson(indent=2)"), "(|tojson x indent=2)");
  EXPECT_EQ(ExprTree("-x | abs"), "(|abs (- x))");
}

TEST(ChatTemplateParserTest, Tests) {
  EXPECT_EQ(ExprTree("x is defined"), "(is defined x)");
  EXPECT_EQ(ExprTree("x is not none"), "(is-not none x)");
  EXPECT_EQ(ExprTree("not x is defined"), "(not (is defined x))");
  EXPECT_EQ(ExprTree("x is divisibleby 3"), "(is divisibleby x 3)");
  EXPECT_EQ(ExprTree("x is divisibleby(3)"), "(is divisibleby x 3)");
  EXPECT_EQ(ExprTree("x is string and y"), "(and (is string x) y)");
  EXPECT_EQ(ExprTree("a.b is false"), "(is false (. a b))");
}

TEST(ChatTemplateParserTest, LogicAndComparisons) {
  EXPECT_EQ(ExprTree("a or b and not c"), "(or a (and b (not c)))");
  EXPECT_EQ(ExprTree("a == b != c"), "(and (== a b) (!= b c))");
  EXPECT_EQ(ExprTree("a < b"), "(< a b)");
  EXPECT_EQ(ExprTree("'x' in y"), "(in 'x' y)");
  EXPECT_EQ(ExprTree("'x' not in y"), "(not in 'x' y)");
  EXPECT_EQ(ExprTree("a + 1 == b * 2"), "(== (+ a 1) (* b 2))");
}

TEST(ChatTemplateParserTest, Conditional) {
  EXPECT_EQ(ExprTree("a if c else b"), "(if c a b)");
  EXPECT_EQ(ExprTree("a if c"), "(if c a _)");
  EXPECT_EQ(ExprTree("a if c else b if d else e"), "(if c a (if d b e))");
}

TEST(ChatTemplateParserTest, Postfix) {
  EXPECT_EQ(ExprTree("m.role"), "(. m role)");
  EXPECT_EQ(ExprTree("m['role']"), "([] m 'role')");
  EXPECT_EQ(ExprTree("m.0"), "([] m 0)");
  EXPECT_EQ(ExprTree("messages[1:]"), "(slice messages 1 _ _)");
  EXPECT_EQ(ExprTree("messages[::-1]"), "(slice messages _ _ (- 1))");
  EXPECT_EQ(ExprTree("s[:2]"), "(slice s _ 2 _)");
  EXPECT_EQ(ExprTree("s.split('x')[-1].strip()"),
            "(call (. ([] (call (. s split) 'x') (- 1)) strip))");
  EXPECT_EQ(ExprTree("f(1, k=2)"), "(call f 1 k=2)");
}

TEST(ChatTemplateParserTest, Literals) {
  EXPECT_EQ(ExprTree("[1, 'a', true, none]"), "(list 1 'a' True None)");
  EXPECT_EQ(ExprTree("{'a': 1, 'b': [2]}"), "(dict 'a' 1 'b' (list 2))");
  EXPECT_EQ(ExprTree("(1, 2)"), "(list 1 2)");
  EXPECT_EQ(ExprTree("'a' 'b'"), "'ab'");  // adjacent strings join
  EXPECT_EQ(ExprTree("True and False or None"), "(or (and True False) None)");
}

TEST(ChatTemplateParserTest, Statements) {
  absl::StatusOr<Body> body = ParseSource(
      "{% for a, b in x if a %}{{ a }}{% else %}none{% endfor %}"
      "{% if p %}1{% elif q %}2{% else %}3{% endif %}"
      "{% set ns.k = 1 %}{% set y %}text{% endset %}"
      "{% macro m(a, b=2) %}{{ a }}{% endmacro %}");
  ASSERT_TRUE(body.ok()) << body.status();
  ASSERT_EQ(body->size(), 5u);
  const Stmt& f = *(*body)[0];
  EXPECT_EQ(f.kind, Stmt::Kind::kFor);
  EXPECT_EQ(f.targets, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Dump(f.cond.get()), "a");
  EXPECT_EQ(f.body.size(), 1u);
  EXPECT_EQ(f.else_body.size(), 1u);
  const Stmt& i = *(*body)[1];
  EXPECT_EQ(i.kind, Stmt::Kind::kIf);
  EXPECT_EQ(i.branches.size(), 2u);
  EXPECT_EQ(i.else_body.size(), 1u);
  EXPECT_EQ((*body)[2]->kind, Stmt::Kind::kSet);
  EXPECT_EQ((*body)[2]->attr, "k");
  EXPECT_EQ((*body)[3]->kind, Stmt::Kind::kSetBlock);
  const Stmt& m = *(*body)[4];
  EXPECT_EQ(m.kind, Stmt::Kind::kMacro);
  EXPECT_EQ(m.targets, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m.defaults[0], nullptr);
  EXPECT_EQ(Dump(m.defaults[1].get()), "2");
}

TEST(ChatTemplateParserTest, GenerationBlockIsAScope) {
  absl::StatusOr<Body> body =
      ParseSource("{% generation %}x{% endgeneration %}");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ((*body)[0]->kind, Stmt::Kind::kScope);
}

std::string ParseError(std::string_view source) {
  absl::StatusOr<Body> body = ParseSource(source);
  if (body.ok()) return "parsed";
  EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(body.status().message());
}

TEST(ChatTemplateParserTest, Errors) {
  EXPECT_THAT(
      ParseError("{% if x %}a"),
      HasSubstr(
          "line 1, column 4: missing '{% endif %}' for the block opened here"));
  EXPECT_THAT(ParseError("a\n{% endfor %}"),
              HasSubstr("line 2, column 4: unexpected 'endfor'"));
  EXPECT_THAT(ParseError("{% include 'x' %}"),
              HasSubstr("unknown or unsupported statement 'include'"));
  EXPECT_THAT(ParseError("{% raw %}x{% endraw %}"),
              HasSubstr("unsupported statement 'raw'"));
  EXPECT_THAT(ParseError("{% break %}"), HasSubstr("'break' outside a loop"));
  EXPECT_THAT(ParseError("{{ 1 + }}"),
              HasSubstr("line 1, column 8: expected an expression, found "
                        "'}}'"));
  EXPECT_THAT(ParseError("{{ f(a=1, 2) }}"),
              HasSubstr("positional argument after a keyword argument"));
  EXPECT_THAT(ParseError("{% for x y %}{% endfor %}"),
              HasSubstr("expected 'in'"));
  EXPECT_THAT(ParseError("{{ x[] }}"), HasSubstr("empty subscript"));
  EXPECT_THAT(ParseError("{{ a b }}"), HasSubstr("expected '}}', found 'b'"));
  EXPECT_THAT(ParseError("{% set x = 1 %}{% set %}"),
              HasSubstr("line 1, column 23: expected a variable name"));
  EXPECT_THAT(ParseError("{% for x in y recursive %}{% endfor %}"),
              HasSubstr("recursive loops are not supported"));
}

TEST(ChatTemplateParserTest, NestingIsBounded) {
  std::string deep =
      "{{ " + std::string(1000, '(') + "1" + std::string(1000, ')') + " }}";
  EXPECT_THAT(ParseError(deep), HasSubstr("nested deeper than"));
  std::string blocks;
  for (int i = 0; i < 500; ++i) blocks += "{% if x %}";
  EXPECT_THAT(ParseError(blocks), HasSubstr("nested deeper than"));
  std::string nots = "{{ ";
  for (int i = 0; i < 5000; ++i) nots += "not ";
  EXPECT_THAT(ParseError(nots + "x }}"), HasSubstr("nested deeper than"));
  // Moderate nesting is fine.
  EXPECT_EQ(
      ParseError("{{ " + std::string(20, '[') + std::string(20, ']') + " }}"),
      "parsed");
}

}  // namespace
}  // namespace headroom::runtime::chat_template
