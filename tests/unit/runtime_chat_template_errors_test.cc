// Each error a chat template can raise while rendering: InvalidArgument
// naming the template line and column of the construct (ResourceExhausted
// bounds are in runtime_chat_template_eval_test).
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/chat_template/chat_template.h"

namespace headroom::runtime {
namespace {

using ::testing::HasSubstr;

// The message of rendering `source`, which must fail with InvalidArgument.
std::string RenderError(std::string_view source) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source);
  if (!t.ok()) {
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(t.status().message());
  }
  ChatRenderOptions options;
  absl::StatusOr<std::string> out = t->Render({{"user", "hi"}}, options);
  if (out.ok()) return "rendered: " + *out;
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument)
      << out.status();
  return std::string(out.status().message());
}

TEST(ChatTemplateErrorsTest, RaiseException) {
  EXPECT_EQ(
      RenderError("line one\n{{ raise_exception('Roles must alternate') }}"),
      "chat template line 2, column 4: raise_exception: Roles must "
      "alternate");
}

TEST(ChatTemplateErrorsTest, UndefinedUsedAsAnObject) {
  EXPECT_THAT(RenderError("{{ nothing.attr }}"),
              HasSubstr("line 1, column 11: 'nothing' is undefined"));
  EXPECT_THAT(RenderError("{{ nothing['k'] }}"),
              HasSubstr("line 1, column 11: 'nothing' is undefined"));
  EXPECT_THAT(RenderError("{{ messages[0].nope.deeper }}"),
              HasSubstr("'nope' is undefined"));
  EXPECT_THAT(RenderError("{{ nothing + 1 }}"),
              HasSubstr("'nothing' is undefined"));
  EXPECT_THAT(RenderError("{{ nothing() }}"),
              HasSubstr("'nothing' is undefined (called)"));
  EXPECT_THAT(RenderError("{{ nothing.strip() }}"),
              HasSubstr("'nothing' is undefined"));
}

TEST(ChatTemplateErrorsTest, TypeErrors) {
  EXPECT_THAT(RenderError("{{ 1 + 'a' }}"),
              HasSubstr("line 1, column 6: unsupported operand types for +: "
                        "integer and string"));
  EXPECT_THAT(RenderError("{{ 'a' - 'b' }}"),
              HasSubstr("unsupported operand types for -"));
  EXPECT_THAT(RenderError("{{ 1 < 'a' }}"),
              HasSubstr("cannot order a value of type integer"));
  EXPECT_THAT(RenderError("{{ 'a' in 1 }}"),
              HasSubstr("argument of type integer is not iterable"));
  EXPECT_THAT(RenderError("{{ 1 in 'abc' }}"),
              HasSubstr("requires a string on the left"));
  EXPECT_THAT(RenderError("{% for x in 5 %}{% endfor %}"),
              HasSubstr("line 1, column 13: a value of type integer is not "
                        "iterable"));
  EXPECT_THAT(RenderError("{{ 'a'() }}"),
              HasSubstr("a value of type string is not callable"));
  EXPECT_THAT(RenderError("{{ -'a' }}"), HasSubstr("bad operand type"));
  EXPECT_THAT(RenderError("{{ {1: 2} }}"),
              HasSubstr("dict keys must be strings"));
  EXPECT_THAT(RenderError("{{ [1][::0] }}"),
              HasSubstr("slice step cannot be zero"));
  EXPECT_THAT(RenderError("{{ [1]['a':] }}"),
              HasSubstr("slice indices must be integers"));
  EXPECT_THAT(RenderError("{{ 5[1:] }}"),
              HasSubstr("cannot slice a value of type integer"));
}

TEST(ChatTemplateErrorsTest, Arithmetic) {
  EXPECT_THAT(RenderError("{{ 1 / 0 }}"), HasSubstr("division by zero"));
  EXPECT_THAT(RenderError("{{ 1 // 0 }}"), HasSubstr("by zero"));
  EXPECT_THAT(RenderError("{{ 1 % 0 }}"), HasSubstr("by zero"));
  EXPECT_THAT(RenderError("{{ 9223372036854775807 + 1 }}"),
              HasSubstr("integer overflow"));
  EXPECT_THAT(RenderError("{{ 2 ** 64 }}"), HasSubstr("integer overflow"));
}

TEST(ChatTemplateErrorsTest, Assignments) {
  EXPECT_THAT(RenderError("{% set x = 1 %}{% set x.a = 2 %}"),
              HasSubstr("line 1, column 19: cannot set attribute 'a' of 'x'"));
  EXPECT_THAT(RenderError("{% set a, b = [1, 2, 3] %}"),
              HasSubstr("cannot unpack a value of type list into 2 names"));
  EXPECT_THAT(RenderError("{% for a, b in [1] %}{% endfor %}"),
              HasSubstr("cannot unpack a value of type integer"));
  EXPECT_THAT(RenderError("{% set ns = namespace() %}{% set ns.me = ns %}"),
              HasSubstr("cannot store a namespace in namespace 'ns'"));
}

TEST(ChatTemplateErrorsTest, Calls) {
  EXPECT_THAT(RenderError("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"),
              HasSubstr("macro 'm' takes 1 arguments"));
  EXPECT_THAT(RenderError("{% macro m(a) %}{% endmacro %}{{ m(b=1) }}"),
              HasSubstr("macro 'm' has no parameter 'b'"));
  EXPECT_THAT(RenderError("{{ range('a') }}"),
              HasSubstr("range() takes integer arguments"));
  EXPECT_THAT(RenderError("{{ range(1, 2, 0) }}"),
              HasSubstr("step must not be zero"));
  EXPECT_THAT(RenderError("{{ namespace(1) }}"),
              HasSubstr("namespace() takes a dict"));
  EXPECT_THAT(RenderError("{{ 'a'.startswith(1) }}"),
              HasSubstr("expected a string argument"));
}

TEST(ChatTemplateErrorsTest, UnknownNames) {
  EXPECT_THAT(RenderError("\n\n  {{ x | nofilter }}"),
              HasSubstr("line 3, column 8: unknown filter 'nofilter'"));
  EXPECT_THAT(RenderError("{{ x is notatest }}"),
              HasSubstr("line 1, column 6: unknown test 'notatest'"));
  EXPECT_THAT(RenderError("{% extends 'base' %}"),
              HasSubstr("unknown or unsupported statement 'extends'"));
  EXPECT_THAT(RenderError("{% call m() %}{% endcall %}"),
              HasSubstr("unsupported statement 'call'"));
  EXPECT_THAT(RenderError("{% filter upper %}x{% endfilter %}"),
              HasSubstr("unsupported statement 'filter'"));
}

TEST(ChatTemplateErrorsTest, SourceSizeIsBounded) {
  EXPECT_THAT(RenderError(std::string(ChatTemplate::kMaxSourceBytes + 1, 'x')),
              HasSubstr("at most 1048576 are accepted"));
}

}  // namespace
}  // namespace headroom::runtime
