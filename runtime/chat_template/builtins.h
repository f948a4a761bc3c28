// Filters (`x | name(...)`), tests (`x is name(...)`) and methods of
// strings and dicts (`s.strip()`), each as Jinja and Python define it.
// Errors (unknown names, wrong argument counts or types) are
// InvalidArgument without a position: the evaluator adds the template's.
//
// Filters: abs, capitalize, count, d, default, e, escape, first, float,
//   int, items, join, last, length, list, lower, map, reject, rejectattr,
//   replace, reverse, safe, select, selectattr, string, title, tojson, trim,
//   unique, upper.
// Tests: boolean, callable, defined, divisibleby, eq, equalto, even, false,
//   float, ge, gt, in, integer, iterable, le, lower, lt, mapping, ne, none,
//   number, odd, sameas, sequence, string, true, undefined, upper, and the
//   operators ==, !=, <, <=, >, >=.
// String methods: capitalize, count, endswith, find, isalnum, isalpha,
//   isdigit, islower, isspace, isupper, join, lower, lstrip, replace,
//   rfind, rstrip, split, startswith, strip, title, upper. Dict methods:
//   get, items, keys, values.
#ifndef HEADROOM_RUNTIME_CHAT_TEMPLATE_BUILTINS_H_
#define HEADROOM_RUNTIME_CHAT_TEMPLATE_BUILTINS_H_

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/chat_template/value.h"

namespace headroom::runtime::chat_template {

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // Parameter `index` given by position, or `name` by keyword; null if
  // neither.
  const Value* Get(size_t index, std::string_view name) const;
  // InvalidArgument unless the arguments fit `params` (by position, then by
  // keyword, none twice), naming `what`.
  absl::Status Check(std::string_view what,
                     std::initializer_list<std::string_view> params) const;
};

// Bounds on what one builtin may build (ChatRenderOptions).
struct BuiltinLimits {
  size_t max_string_bytes;
};

absl::StatusOr<Value> ApplyFilter(std::string_view name, const Value& input,
                                  const CallArgs& args,
                                  const BuiltinLimits& limits);
absl::StatusOr<bool> ApplyTest(std::string_view name, const Value& input,
                               const CallArgs& args);
// `object.name(args)` for a string or dict `object`.
absl::StatusOr<Value> CallMethod(const Value& object, std::string_view name,
                                 const CallArgs& args,
                                 const BuiltinLimits& limits);
// Whether CallMethod knows `name` for `object`'s type.
bool HasMethod(const Value& object, std::string_view name);

// Python's `<`, `>` ... on numbers, strings and lists: -1, 0 or 1;
// InvalidArgument for other types.
absl::StatusOr<int> CompareValues(const Value& a, const Value& b);
// `needle in haystack`.
absl::StatusOr<bool> ValueIn(const Value& needle, const Value& haystack);
// The items `for` walks: a list's items, a dict's keys, a string's
// characters; undefined gives none. InvalidArgument for other types.
absl::StatusOr<ValueList> Iterate(const Value& v);

}  // namespace headroom::runtime::chat_template

#endif  // HEADROOM_RUNTIME_CHAT_TEMPLATE_BUILTINS_H_
