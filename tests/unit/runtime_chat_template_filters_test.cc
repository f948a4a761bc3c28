// Each filter, test and string/dict method of the chat template subset,
// with values from Jinja's and Python's documentation.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/chat_template/builtins.h"
#include "runtime/chat_template/chat_template.h"
#include "runtime/chat_template/value.h"

namespace headroom::runtime {
namespace {

using ::testing::HasSubstr;

std::string R(std::string_view source, const std::string& vars = "{}") {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source);
  if (!t.ok()) return "ERROR: " + std::string(t.status().message());
  ChatRenderOptions options;
  absl::StatusOr<chat_template::Value> v = chat_template::ValueFromJson(vars);
  if (!v.ok()) return "ERROR: bad vars";
  for (const auto& [k, x] : v->as_dict().items())
    options.extra.emplace_back(k, x);
  absl::StatusOr<std::string> out = t->Render({}, options);
  if (!out.ok()) return "ERROR: " + std::string(out.status().message());
  return *out;
}

TEST(ChatTemplateFiltersTest, Trim) {
  EXPECT_EQ(R("[{{ '  a b \n\t' | trim }}]"), "[a b]");
  EXPECT_EQ(R("[{{ 'xxaxx' | trim('x') }}]"), "[a]");
  EXPECT_EQ(R("[{{ undefined_name | trim }}]"), "[]");
}

TEST(ChatTemplateFiltersTest, CaseFilters) {
  EXPECT_EQ(R("{{ 'aBc' | upper }} {{ 'aBc' | lower }}"), "ABC abc");
  EXPECT_EQ(R("{{ 'hello WORLD' | capitalize }}"), "Hello world");
  EXPECT_EQ(R("{{ 'hello big-world' | title }}"), "Hello Big-World");
}

TEST(ChatTemplateFiltersTest, LengthAndCount) {
  EXPECT_EQ(R("{{ 'h\xc3\xa9' | length }} {{ [1, 2] | length }} "
              "{{ {'a': 1} | count }} {{ undefined_name | length }}"),
            "2 2 1 0");
  EXPECT_THAT(R("{{ 5 | length }}"), HasSubstr("has no length"));
}

TEST(ChatTemplateFiltersTest, Default) {
  EXPECT_EQ(R("{{ undefined_name | default('d') }} {{ '' | default('d') }}|"
              "{{ '' | default('d', true) }} {{ none | d('x') }} "
              "{{ 0 | default(5, boolean=true) }} [{{ undefined_name | d }}]"),
            "d |d None 5 []");
}

TEST(ChatTemplateFiltersTest, ToJson) {
  EXPECT_EQ(R("{{ v | tojson }}",
              R"({"v": {"a": [1, 2.5, "x\"y\n\u00e9"], "b": null,
                        "c": true, "d": {}}})"),
            "{\"a\": [1, 2.5, \"x\\\"y\\n\xc3\xa9\"], \"b\": null, "
            "\"c\": true, \"d\": {}}");
  EXPECT_EQ(R("{{ [1, {'k': []}] | tojson(indent=2) }}"),
            "[\n  1,\n  {\n    \"k\": []\n  }\n]");
  EXPECT_EQ(R("{{ 'a<b>&' | tojson }}"), "\"a<b>&\"");  // no HTML escaping
  EXPECT_THAT(R("{{ undefined_name | tojson }}"),
              HasSubstr("not JSON serializable"));
}

TEST(ChatTemplateFiltersTest, Join) {
  EXPECT_EQ(R("{{ [1, 'a', none] | join(', ') }}|{{ ['x', 'y'] | join }}"),
            "1, a, None|xy");
  EXPECT_EQ(R("{{ v | join('/', attribute='n') }}",
              R"({"v": [{"n": "a"}, {"n": "b"}]})"),
            "a/b");
}

TEST(ChatTemplateFiltersTest, Replace) {
  EXPECT_EQ(
      R("{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} "
        "{{ 'ab' | replace('', '-') }}"),
      "bbb bba -a-b-");
}

TEST(ChatTemplateFiltersTest, FirstLastListReverseUnique) {
  EXPECT_EQ(R("{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} "
              "{{ 'abc' | first }} [{{ [] | first }}]"),
            "1 3 a []");
  EXPECT_EQ(R("{{ 'ab' | list }} {{ [1, 2] | reverse | list }} "
              "{{ 'abc' | reverse }} {{ [1, 2, 1, 3, 2] | unique | list }}"),
            "['a', 'b'] [2, 1] cba [1, 2, 3]");
}

TEST(ChatTemplateFiltersTest, Conversions) {
  EXPECT_EQ(R("{{ '42' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} "
              "{{ 3.9 | int }} {{ '2.5' | float }} {{ 2 | float }} "
              "{{ 12 | string | length }}"),
            "42 0 7 3 2.5 2.0 2");
  EXPECT_EQ(R("{{ -3 | abs }} {{ -2.5 | abs }}"), "3 2.5");
  // Python's int() and float() read decimal only.
  EXPECT_EQ(R("{{ '0x1A' | int }} {{ '0x1A' | float }} {{ ' 7 ' | int }}"),
            "0 0.0 7");
}

TEST(ChatTemplateFiltersTest, ItemsSafeEscape) {
  EXPECT_EQ(R("{{ {'a': 1} | items | list }}"), "[['a', 1]]");
  EXPECT_EQ(R("{{ '<b>' | safe }} {{ '<a href=\"x\">&\\'' | e }}"),
            "<b> &lt;a href=&#34;x&#34;&gt;&amp;&#39;");
}

TEST(ChatTemplateFiltersTest, MapSelectReject) {
  const std::string vars =
      R"({"v": [{"n": "a", "ok": true}, {"n": "b", "ok": false}, {"n": "c"}]})";
  EXPECT_EQ(R("{{ v | map(attribute='n') | join }}", vars), "abc");
  EXPECT_EQ(R("{{ ['a', 'B'] | map('upper') | join }}", vars), "AB");
  EXPECT_EQ(R("{{ v | selectattr('ok') | map(attribute='n') | join }}", vars),
            "a");
  EXPECT_EQ(R("{{ v | rejectattr('ok') | map(attribute='n') | join }}", vars),
            "bc");
  EXPECT_EQ(R("{{ v | selectattr('n', 'equalto', 'b') | map(attribute='n') "
              "| join }}",
              vars),
            "b");
  EXPECT_EQ(R("{{ [1, 2, 3, 4] | select('odd') | list }} "
              "{{ [1, 2, 3, 4] | reject('odd') | list }} "
              "{{ ['a', 'b'] | reject('equalto', 'a') | list }}"),
            "[1, 3] [2, 4] ['b']");
}

TEST(ChatTemplateFiltersTest, UnknownFilterAndBadArguments) {
  EXPECT_THAT(R("{{ 'a' | frobnicate }}"),
              HasSubstr("line 1, column 8: unknown filter 'frobnicate'"));
  EXPECT_THAT(R("{{ 'a' | trim(1, 2) }}"),
              HasSubstr("filter 'trim' takes at most 1 arguments"));
  EXPECT_THAT(R("{{ 'a' | upper(x=1) }}"),
              HasSubstr("unexpected keyword argument 'x'"));
}

TEST(ChatTemplateTestsTest, TypeTests) {
  EXPECT_EQ(R("{{ x is defined }}{{ x is undefined }}{{ none is none }}"
              "{{ 'a' is string }}{{ 1 is string }}"),
            "FalseTrueTrueTrueFalse");
  EXPECT_EQ(R("{{ 1 is number }}{{ 1.5 is number }}{{ 'a' is number }}"
              "{{ 1 is integer }}{{ 1.0 is integer }}{{ 1.0 is float }}"),
            "TrueTrueFalseTrueFalseTrue");
  EXPECT_EQ(R("{{ true is boolean }}{{ 1 is boolean }}{{ false is false }}"
              "{{ 0 is false }}{{ true is true }}"),
            "TrueFalseTrueFalseTrue");
  EXPECT_EQ(R("{{ {} is mapping }}{{ [] is mapping }}{{ [] is iterable }}"
              "{{ 'a' is sequence }}{{ 1 is iterable }}"),
            "TrueFalseTrueTrueFalse");
  EXPECT_EQ(R("{{ range is callable }}{{ 'a' is callable }}"), "TrueFalse");
}

TEST(ChatTemplateTestsTest, ValueTests) {
  EXPECT_EQ(R("{{ 3 is odd }}{{ 3 is even }}{{ -4 is even }}"
              "{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}"),
            "TrueFalseTrueTrueFalse");
  EXPECT_EQ(R("{{ 'ab' is lower }}{{ 'aB' is lower }}{{ 'AB' is upper }}"),
            "TrueFalseTrue");
  EXPECT_EQ(R("{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 1 is ne 2 }}"
              "{{ 1 is lt 2 }}{{ 2 is le 1 }}{{ 2 is gt 1 }}{{ 1 is ge 1 }}"),
            "TrueFalseTrueTrueFalseTrueTrue");
  EXPECT_EQ(R("{{ 'a' is in 'cat' }}{{ 2 is in [1] }}{{ none is sameas none }}"
              "{{ x is not defined }}"),
            "TrueFalseTrueTrue");
}

TEST(ChatTemplateTestsTest, UnknownTest) {
  EXPECT_THAT(R("{{ 1 is prime }}"), HasSubstr("unknown test 'prime'"));
  EXPECT_THAT(R("{{ 'a' is odd }}"), HasSubstr("needs an integer"));
}

TEST(ChatTemplateMethodsTest, Strip) {
  EXPECT_EQ(R("[{{ '  a  '.strip() }}][{{ '  a  '.lstrip() }}]"
              "[{{ '  a  '.rstrip() }}][{{ '\n\nx\n'.strip('\n') }}]"
              "[{{ 'xyaxy'.strip('xy') }}]"),
            "[a][a  ][  a][x][a]");
}

TEST(ChatTemplateMethodsTest, StartsEndsWith) {
  EXPECT_EQ(R("{{ 'hello'.startswith('he') }}{{ 'hello'.startswith('lo') }}"
              "{{ 'hello'.endswith('lo') }}{{ 'hello'.endswith(['x', 'o']) }}"
              "{{ 'a'.startswith('') }}"),
            "TrueFalseTrueTrueTrue");
}

TEST(ChatTemplateMethodsTest, Split) {
  EXPECT_EQ(
      R("{{ 'a,b,,c'.split(',') }} {{ '  a  b '.split() }} "
        "{{ 'a b c'.split(' ', 1) }} {{ ''.split() }} {{ ''.split(',') }}"),
      "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c'] [] ['']");
  EXPECT_EQ(R("{{ 'x</think>y'.split('</think>')[-1] }}"), "y");
  EXPECT_THAT(R("{{ 'a'.split('') }}"), HasSubstr("empty separator"));
}

TEST(ChatTemplateMethodsTest, Others) {
  EXPECT_EQ(
      R("{{ 'aXa'.replace('a', 'b') }} {{ 'ab'.upper() }} "
        "{{ 'AB'.lower() }} {{ 'ab cd'.title() }} {{ 'aB'.capitalize() }}"),
      "bXb AB ab Ab Cd Ab");
  EXPECT_EQ(R("{{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} "
              "{{ 'hello'.find('z') }} {{ 'hello'.count('l') }}"),
            "2 3 -1 2");
  EXPECT_EQ(R("{{ '-'.join(['a', 'b']) }} {{ '12'.isdigit() }} "
              "{{ 'a1'.isalpha() }} {{ ' '.isspace() }}"),
            "a-b True False True");
  EXPECT_THAT(R("{{ 'a'.nope() }}"),
              HasSubstr("strings have no method 'nope'"));
}

TEST(ChatTemplateMethodsTest, DictMethods) {
  const std::string vars = R"({"d": {"a": 1, "b": 2}})";
  EXPECT_EQ(R("{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 9) }} "
              "{{ d.keys() | list }} {{ d.values() | list }} "
              "{{ d.items() | map('first') | join }}",
              vars),
            "1 None 9 ['a', 'b'] [1, 2] ab");
}

TEST(ChatTemplateValueTest, FormatPythonFloat) {
  using chat_template::FormatPythonFloat;
  EXPECT_EQ(FormatPythonFloat(1.0), "1.0");
  EXPECT_EQ(FormatPythonFloat(0.1), "0.1");
  EXPECT_EQ(FormatPythonFloat(-2.5), "-2.5");
  EXPECT_EQ(FormatPythonFloat(1e16), "1e+16");
  EXPECT_EQ(FormatPythonFloat(123456789012345.0), "123456789012345.0");
  EXPECT_EQ(FormatPythonFloat(0.0001), "0.0001");
  EXPECT_EQ(FormatPythonFloat(0.00001), "1e-05");
  EXPECT_EQ(FormatPythonFloat(1.5e-7), "1.5e-07");
  EXPECT_EQ(FormatPythonFloat(0.0), "0.0");
}

}  // namespace
}  // namespace headroom::runtime
