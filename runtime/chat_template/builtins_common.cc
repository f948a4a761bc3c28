// CallArgs, comparisons, `in` and iteration (builtins.h).
#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/chat_template/builtins.h"
#include "runtime/chat_template/py_string.h"

namespace headroom::runtime::chat_template {

const Value* CallArgs::Get(size_t index, std::string_view name) const {
  if (index < positional.size()) return &positional[index];
  for (const auto& [k, v] : keyword) {
    if (k == name) return &v;
  }
  return nullptr;
}

absl::Status CallArgs::Check(
    std::string_view what,
    std::initializer_list<std::string_view> params) const {
  if (positional.size() > params.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " takes at most ", params.size(),
                     " arguments (", positional.size(), " given)"));
  }
  for (const auto& [k, v] : keyword) {
    const auto it = std::find(params.begin(), params.end(), k);
    if (it == params.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(what), " got an unexpected keyword argument '", k, "'"));
    }
    if (static_cast<size_t>(it - params.begin()) < positional.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(what), " got argument '", k, "' twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> CompareValues(const Value& a, const Value& b) {
  const bool a_num = a.is_number() || a.is_bool();
  const bool b_num = b.is_number() || b.is_bool();
  if (a_num && b_num) {
    if (a.is_int() && b.is_int()) {
      return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int() ? 1 : 0;
    }
    auto num = [](const Value& v) {
      return v.is_bool() ? (v.as_bool() ? 1.0 : 0.0) : v.as_number();
    };
    const double x = num(a);
    const double y = num(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_list() && b.is_list()) {
    const ValueList& x = a.as_list();
    const ValueList& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (ValuesEqual(x[i], y[i])) continue;
      return CompareValues(x[i], y[i]);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot order a value of type ", TypeName(a),
                   " and one of type ", TypeName(b)));
}

absl::StatusOr<bool> ValueIn(const Value& needle, const Value& haystack) {
  switch (haystack.type()) {
    case Value::Type::kUndefined:
      return false;
    case Value::Type::kString:
      if (!needle.is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'in <string>' requires a string on the left, not ",
                         TypeName(needle)));
      }
      return haystack.as_string().find(needle.as_string()) != std::string::npos;
    case Value::Type::kList:
      for (const Value& item : haystack.as_list()) {
        if (ValuesEqual(item, needle)) return true;
      }
      return false;
    case Value::Type::kDict:
      return needle.is_string() &&
             haystack.as_dict().Find(needle.as_string()) != nullptr;
    case Value::Type::kNamespace:
      return needle.is_string() &&
             haystack.namespace_attrs().Find(needle.as_string()) != nullptr;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "argument of type ", TypeName(haystack), " is not iterable"));
  }
}

absl::StatusOr<ValueList> Iterate(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return ValueList();
    case Value::Type::kList:
      return v.as_list();
    case Value::Type::kDict: {
      ValueList keys;
      for (const auto& [k, item] : v.as_dict().items()) {
        keys.push_back(Value::String(k));
      }
      return keys;
    }
    case Value::Type::kString: {
      ValueList chars;
      for (const std::string_view c : SplitChars(v.as_string())) {
        chars.push_back(Value::String(std::string(c)));
      }
      return chars;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("a value of type ", TypeName(v), " is not iterable"));
  }
}

}  // namespace headroom::runtime::chat_template
