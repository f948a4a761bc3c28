// ChatTemplate::Render: Jinja's semantics as Python's Jinja2 has them
// (printing, scoping, loops, namespaces, macros, undefined values,
// operators) and the resource bounds. Expected values are worked out from
// Jinja's and Python's documented behaviour.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/chat_template/chat_template.h"
#include "runtime/chat_template/value.h"

namespace headroom::runtime {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<std::string> RenderWith(std::string_view source,
                                       const std::string& vars_json = "{}",
                                       ChatRenderOptions options = {}) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source);
  if (!t.ok()) return t.status();
  absl::StatusOr<chat_template::Value> vars =
      chat_template::ValueFromJson(vars_json);
  if (!vars.ok()) return vars.status();
  for (const auto& [k, v] : vars->as_dict().items()) {
    options.extra.emplace_back(k, v);
  }
  return t->Render({{"user", "Hi"}, {"assistant", "Hello"}}, options);
}

std::string R(std::string_view source, const std::string& vars = "{}") {
  absl::StatusOr<std::string> out = RenderWith(source, vars);
  if (!out.ok()) return "ERROR: " + std::string(out.status().message());
  return *out;
}

TEST(ChatTemplateEvalTest, PrintsValuesAsPythonStr) {
  EXPECT_EQ(R("{{ 1 }} {{ 1.5 }} {{ 2.0 }} {{ 'a' }}"), "1 1.5 2.0 a");
  EXPECT_EQ(R("{{ none }} {{ true }} {{ false }}"), "None True False");
  EXPECT_EQ(R("{{ [1, 'a', none, [true]] }}"), "[1, 'a', None, [True]]");
  EXPECT_EQ(R("{{ {'k': 'v', 'n': 1} }}"), "{'k': 'v', 'n': 1}");
  EXPECT_EQ(R("{{ \"it's\" }}|{{ [\"it's\"] }}"), "it's|[\"it's\"]");
  EXPECT_EQ(R("{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1 / 3 }}"),
            "0.30000000000000004 1e+20 0.3333333333333333");
  EXPECT_EQ(R("{{ undefined_name }}|"), "|");
}

TEST(ChatTemplateEvalTest, GlobalsFromTheOptions) {
  ChatRenderOptions options;
  options.add_generation_prompt = true;
  options.bos_token = "<s>";
  absl::StatusOr<std::string> out = RenderWith(
      "{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m['content'] }};"
      "{% endfor %}{{ add_generation_prompt }}|{{ eos_token is defined }}",
      "{}", options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "<s>user:Hi;assistant:Hello;True|False");
}

TEST(ChatTemplateEvalTest, ExtraVariablesCannotShadowTheOptions) {
  absl::StatusOr<std::string> out = RenderWith("x", R"({"messages": []})");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ChatTemplateEvalTest, Arithmetic) {
  EXPECT_EQ(R("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }}"),
            "3 -4 1 2");  // Python floors
  EXPECT_EQ(R("{{ 7 / 2 }} {{ 6 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }}"),
            "3.5 3.0 1024 0.5");
  EXPECT_EQ(R("{{ 1 + 2.5 }} {{ true + 1 }} {{ 3 - 5 }} {{ -(2) }}"),
            "3.5 2 -2 -2");
  EXPECT_EQ(R("{{ 'ab' * 3 }} {{ 2 * 'x' }} {{ [1] * 2 }} {{ [1] + [2] }}"),
            "ababab xx [1, 1] [1, 2]");
  EXPECT_EQ(R("{{ 'a' + 'b' }} {{ 'a' ~ 1 ~ none ~ undefined_name }}"),
            "ab a1None");
}

TEST(ChatTemplateEvalTest, Comparisons) {
  EXPECT_EQ(R("{{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }}"),
            "True True True");
  EXPECT_EQ(R("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'x' != 'y' }}"),
            "True False True");
  EXPECT_EQ(R("{{ none == none }} {{ undefined_name == none }}"), "True False");
}

TEST(ChatTemplateEvalTest, LogicReturnsOperands) {
  EXPECT_EQ(R("{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }}|"), "x b |");
  EXPECT_EQ(R("{{ not [] }} {{ not 'a' }} {{ not undefined_name }}"),
            "True False True");
}

TEST(ChatTemplateEvalTest, InOperator) {
  EXPECT_EQ(R("{{ 'ell' in 'hello' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }}"),
            "True True True");
  EXPECT_EQ(R("{{ 'z' not in 'abc' }} {{ 'a' in undefined_name }}"),
            "True False");
}

TEST(ChatTemplateEvalTest, Conditional) {
  EXPECT_EQ(R("{{ 'y' if 1 else 'n' }} {{ 'y' if 0 else 'n' }} "
              "[{{ 'y' if 0 }}]"),
            "y n []");
  EXPECT_EQ(R("{% if 0 %}a{% elif 1 %}b{% else %}c{% endif %}"), "b");
  EXPECT_EQ(R("{% if 0 %}a{% elif 0 %}b{% else %}c{% endif %}"), "c");
}

TEST(ChatTemplateEvalTest, LoopVariables) {
  EXPECT_EQ(R("{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}"
              "{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.length }}"
              "{{ loop.first }}{{ loop.last }} {% endfor %}"),
            "10323TrueFalse 21213FalseFalse 32103FalseTrue ");
  EXPECT_EQ(R("{% for x in [1, 2, 3] %}{{ loop.previtem | default('-') }}"
              "{{ loop.nextitem | default('-') }}{% endfor %}"),
            "-2132-");
  EXPECT_EQ(R("{% for x in range(4) %}{{ loop.cycle('a', 'b') }}{% endfor %}"),
            "abab");
}

TEST(ChatTemplateEvalTest, LoopFilterElseBreakContinue) {
  EXPECT_EQ(R("{% for x in range(10) if x is odd %}{{ x }}/{{ loop.length }} "
              "{% endfor %}"),
            "1/5 3/5 5/5 7/5 9/5 ");
  EXPECT_EQ(R("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(R("{% for x in undefined_name %}a{% else %}none{% endfor %}"),
            "none");
  EXPECT_EQ(R("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}"
              "{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
            "013");
}

TEST(ChatTemplateEvalTest, LoopsOverDictsAndPairs) {
  EXPECT_EQ(R("{% for k in d %}{{ k }}{% endfor %}|"
              "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|"
              "{% for k, v in d | items %}{{ k }}{% endfor %}",
              R"({"d": {"b": 1, "a": 2}})"),
            "ba|b=1;a=2;|ba");  // insertion order, as Python's dict
}

TEST(ChatTemplateEvalTest, SetInsideALoopDoesNotLeak) {
  EXPECT_EQ(R("{% set x = 'outer' %}{% for i in [1] %}{% set x = 'inner' %}"
              "{{ x }}{% endfor %} {{ x }}"),
            "inner outer");
  EXPECT_EQ(R("{% if true %}{% set y = 'if' %}{% endif %}{{ y }}"), "if");
}

TEST(ChatTemplateEvalTest, NamespaceCarriesValuesOutOfLoops) {
  EXPECT_EQ(
      R("{% set ns = namespace(total=0, seen=false) %}"
        "{% for i in [1, 2, 3] %}{% set ns.total = ns.total + i %}"
        "{% endfor %}{% set ns.seen = true %}{{ ns.total }} {{ ns.seen }}"),
      "6 True");
  EXPECT_EQ(R("{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}"),
            "12");
}

TEST(ChatTemplateEvalTest, SetForms) {
  EXPECT_EQ(R("{% set a, b = [1, 2] %}{{ a }}{{ b }}"), "12");
  // Tuples are lists here (Python would print "(1, 2)").
  EXPECT_EQ(R("{% set t = 1, 2 %}{{ t | length }}"), "2");
  EXPECT_EQ(R("{% set block %}x{{ 1 + 1 }}y{% endset %}[{{ block }}]"),
            "[x2y]");
}

TEST(ChatTemplateEvalTest, Macros) {
  EXPECT_EQ(R("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}"
              "{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} "
              "{{ greet(punct='.', name='c') }}"),
            "Hi a! Hi b? Hi c.");
  // A macro sees top-level names, not the caller's loop variables.
  EXPECT_EQ(R("{% set top = 'T' %}{% macro m() %}{{ top }}{{ i }}"
              "{% endmacro %}{% for i in [1] %}{{ m() }}{% endfor %}"),
            "T");
  // Missing arguments are undefined.
  EXPECT_EQ(R("{% macro m(a, b) %}[{{ b }}]{% endmacro %}{{ m(1) }}"), "[]");
}

TEST(ChatTemplateEvalTest, ItemsAttributesAndSlices) {
  const std::string vars = R"({"m": {"role": "user", "list": [1, 2, 3, 4]}})";
  EXPECT_EQ(R("{{ m.role }} {{ m['role'] }} {{ m.list[0] }} {{ m.list[-1] }} "
              "{{ m.list.1 }}",
              vars),
            "user user 1 4 2");
  EXPECT_EQ(R("{{ m.list[1:] }} {{ m.list[:2] }} {{ m.list[::-1] }} "
              "{{ m.list[::2] }} {{ m.list[-2:] }} {{ m.list[5:] }}",
              vars),
            "[2, 3, 4] [1, 2] [4, 3, 2, 1] [1, 3] [3, 4] []");
  EXPECT_EQ(R("{{ m.list[::9223372036854775807] }} "
              "{{ m.list[::-9223372036854775807] }} {{ m.list[3:0:-2] }}",
              vars),
            "[1] [4] [4, 2]");
  EXPECT_EQ(R("{{ 'h\xc3\xa9llo'[1] }} {{ 'h\xc3\xa9llo'[1:3] }} "
              "{{ 'abc'[::-1] }}"),
            "\xc3\xa9 \xc3\xa9l cba");  // code points, not bytes
  // Missing keys and indexes are undefined, not errors.
  EXPECT_EQ(R("[{{ m.nope }}{{ m.list[9] }}{{ m['x'] }}{{ none.x }}]", vars),
            "[]");
  EXPECT_EQ(R("{{ m.nope is defined }} {{ m.role is defined }}", vars),
            "False True");
}

TEST(ChatTemplateEvalTest, GenerationBlockRendersItsBody) {
  EXPECT_EQ(R("a{% generation %}b{% endgeneration %}c"), "abc");
}

TEST(ChatTemplateEvalTest, RangeIsPythons) {
  EXPECT_EQ(R("{{ range(3) }} {{ range(1, 4) }} {{ range(5, 0, -2) }} "
              "{{ range(0) }}"),
            "[0, 1, 2] [1, 2, 3] [5, 3, 1] []");
}

TEST(ChatTemplateEvalTest, OutputIsBounded) {
  ChatRenderOptions options;
  options.max_output_bytes = 1000;
  absl::StatusOr<std::string> out =
      RenderWith("{% for i in range(2000) %}x{% endfor %}", "{}", options);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("output over 1000 bytes"));
  out = RenderWith("{% set s = 'x' * 5000 %}", "{}", options);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  out = RenderWith(
      "{% set s = 'ab' | replace('a', 'x' * 600) %}"
      "{% set t = s ~ s %}",
      "{}", options);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(ChatTemplateEvalTest, WorkIsBounded) {
  ChatRenderOptions options;
  options.max_steps = 100000;
  // 10^5 * 10^5 iterations, no output: stopped by the step budget.
  absl::StatusOr<std::string> out = RenderWith(
      "{% for i in range(100000) %}{% for j in range(100000) %}"
      "{% endfor %}{% endfor %}",
      "{}", options);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("budget of 100000 steps"));
  out = RenderWith("{{ range(100001) | length }}");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("range() of more than 100000 items"));
}

TEST(ChatTemplateEvalTest, PrintingManyReferencesIsBounded) {
  // A million references to one string are cheap to build, not to print.
  ChatRenderOptions options;
  options.max_output_bytes = 1 << 16;
  for (const char* use : {"{{ l }}", "{{ l | tojson }}", "{{ l ~ '' }}",
                          "{{ l | join }}", "{{ l | string }}"}) {
    absl::StatusOr<std::string> out =
        RenderWith(std::string("{% set l = ['x' * 60000] * 1000000 %}") + use,
                   "{}", options);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted) << use;
  }
}

TEST(ChatTemplateEvalTest, ScanningLongStringsIsCharged) {
  ChatRenderOptions options;
  options.max_steps = 1000000;
  // 10^4 scans of 10^6 bytes: charged by the byte, stopped by the budget.
  absl::StatusOr<std::string> out = RenderWith(
      "{% set s = 'x' * 1000000 %}{% for i in range(10000) %}"
      "{% if 'y' in s %}{% endif %}{% endfor %}",
      "{}", options);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("steps"));
}

TEST(ChatTemplateEvalTest, DeepestAllowedNestingRenders) {
  // Expressions nested as deep as the parser allows, in a macro recursing
  // as deep as the evaluator allows: the stack holds (this runs under
  // AddressSanitizer too, with its larger frames).
  std::string expr = "n";
  for (int i = 0; i < 60; ++i) expr = "(1 + " + expr + ")";
  absl::StatusOr<std::string> out =
      RenderWith("{% macro f(n) %}{% if n < 31 %}{{ f(" + expr +
                 " - 60 + 1) }}{% else %}{{ " + expr +
                 " }}{% endif %}{% endmacro %}"
                 "{{ f(0) }}");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "91");
}

TEST(ChatTemplateEvalTest, RecursionIsBounded) {
  absl::StatusOr<std::string> out =
      RenderWith("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("macro calls nested deeper than 32"));
  // Lists nested by a loop stop at the nesting bound.
  out = RenderWith(
      "{% set ns = namespace(x=[]) %}{% for i in range(500) %}"
      "{% set ns.x = [ns.x] %}{% endfor %}");
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("nested deeper than 100"));
}

}  // namespace
}  // namespace headroom::runtime
