// Filters (builtins.h), with Jinja's argument names.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/chat_template/builtins.h"
#include "runtime/chat_template/py_string.h"
#include "runtime/chat_template/status_macros.h"

namespace headroom::runtime::chat_template {
namespace {

absl::Status TooLong(std::string_view what, size_t limit) {
  return absl::ResourceExhaustedError(absl::StrCat(
      std::string(what), " would build a string over ", limit, " bytes"));
}

absl::StatusOr<std::string> OptionalString(const CallArgs& args, size_t index,
                                           std::string_view name,
                                           std::string_view fallback,
                                           const BuiltinLimits& limits) {
  const Value* v = args.Get(index, name);
  if (v == nullptr || v->is_undefined()) return std::string(fallback);
  return ToPythonStr(*v, limits.max_string_bytes);
}

absl::StatusOr<int64_t> OptionalInt(const CallArgs& args, size_t index,
                                    std::string_view name, int64_t fallback,
                                    std::string_view what) {
  const Value* v = args.Get(index, name);
  if (v == nullptr || v->is_none() || v->is_undefined()) return fallback;
  if (!v->is_int()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), ": '", std::string(name),
                     "' must be an integer, not ", TypeName(*v)));
  }
  return v->as_int();
}

// strtod reads "0x1A" as hexadecimal; Python's float() does not.
bool HasHexPrefix(const std::string& s) {
  return s.find_first_of("xX") != std::string::npos;
}

// Item `attribute` of a dict ("a.b" walks dicts); undefined when absent.
Value Attribute(const Value& v, const std::string& attribute) {
  Value current = v;
  size_t start = 0;
  while (true) {
    const size_t dot = attribute.find('.', start);
    const std::string part = attribute.substr(
        start, dot == std::string::npos ? std::string::npos : dot - start);
    const Value* next = nullptr;
    if (current.is_dict()) next = current.as_dict().Find(part);
    if (current.is_list() && !part.empty() &&
        part.find_first_not_of("0123456789") == std::string::npos) {
      const size_t i = std::strtoull(part.c_str(), nullptr, 10);
      if (i < current.as_list().size()) next = &current.as_list()[i];
    }
    if (next == nullptr) return Value::MakeUndefined(part);
    current = *next;
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

absl::StatusOr<std::string> Stringify(const BuiltinLimits& limits,
                                      const Value& v) {
  return ToPythonStr(v, limits.max_string_bytes);
}

// select / reject / selectattr / rejectattr.
absl::StatusOr<Value> Select(std::string_view name, const Value& input,
                             const CallArgs& args, bool by_attribute,
                             bool keep) {
  CT_ASSIGN_OR_RETURN(ValueList items, Iterate(input));
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    if (args.positional.empty() || !args.positional[0].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(name), " needs an attribute name (a string)"));
    }
    attribute = args.positional[0].as_string();
    next = 1;
  }
  std::string test;
  if (next < args.positional.size()) {
    if (!args.positional[next].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(name), ": the test name must be a string"));
    }
    test = args.positional[next].as_string();
    ++next;
  }
  CallArgs test_args;
  for (size_t i = next; i < args.positional.size(); ++i) {
    test_args.positional.push_back(args.positional[i]);
  }
  ValueList out;
  for (const Value& item : items) {
    const Value subject = by_attribute ? Attribute(item, attribute) : item;
    bool pass = subject.Truthy();
    if (!test.empty()) {
      CT_ASSIGN_OR_RETURN(pass, ApplyTest(test, subject, test_args));
    }
    if (pass == keep) out.push_back(item);
  }
  return Value::List(std::move(out));
}

}  // namespace

absl::StatusOr<Value> ApplyFilter(std::string_view name, const Value& input,
                                  const CallArgs& args,
                                  const BuiltinLimits& limits) {
  const std::string what = absl::StrCat("filter '", std::string(name), "'");
  if (name == "trim") {
    CT_RETURN_IF_ERROR(args.Check(what, {"chars"}));
    CT_ASSIGN_OR_RETURN(std::string s, Stringify(limits, input));
    const Value* chars = args.Get(0, "chars");
    std::optional<std::string> set;
    if (chars != nullptr && !chars->is_none()) {
      CT_ASSIGN_OR_RETURN(set, Stringify(limits, *chars));
    }
    return Value::String(PyStrip(s, set, StripSide::kBoth));
  }
  if (name == "upper" || name == "lower" || name == "capitalize" ||
      name == "title") {
    CT_RETURN_IF_ERROR(args.Check(what, {}));
    CT_ASSIGN_OR_RETURN(std::string s, Stringify(limits, input));
    if (name == "upper") return Value::String(PyUpper(s));
    if (name == "lower") return Value::String(PyLower(s));
    if (name == "capitalize") return Value::String(PyCapitalize(s));
    return Value::String(PyTitle(s));
  }
  if (name == "length" || name == "count") {
    CT_RETURN_IF_ERROR(args.Check(what, {}));
    switch (input.type()) {
      case Value::Type::kUndefined:
        return Value::Int(0);
      case Value::Type::kString:
        return Value::Int(CharCount(input.as_string()));
      case Value::Type::kList:
        return Value::Int(static_cast<int64_t>(input.as_list().size()));
      case Value::Type::kDict:
        return Value::Int(static_cast<int64_t>(input.as_dict().size()));
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": a value of type ", TypeName(input), " has no length"));
    }
  }
  if (name == "default" || name == "d") {
    CT_RETURN_IF_ERROR(args.Check(what, {"default_value", "boolean"}));
    const Value* fallback = args.Get(0, "default_value");
    const Value* boolean = args.Get(1, "boolean");
    const bool use_fallback =
        input.is_undefined() ||
        (boolean != nullptr && boolean->Truthy() && !input.Truthy());
    if (!use_fallback) return input;
    return fallback != nullptr ? *fallback : Value::String("");
  }
  if (name == "tojson") {
    CT_RETURN_IF_ERROR(args.Check(what, {"indent", "sort_keys"}));
    CT_ASSIGN_OR_RETURN(int64_t indent,
                        OptionalInt(args, 0, "indent", -1, what));
    if (indent > 64) indent = 64;
    const Value* sort = args.Get(1, "sort_keys");
    Value subject = input;
    if (sort != nullptr && sort->Truthy()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": sort_keys is not supported"));
    }
    CT_ASSIGN_OR_RETURN(
        std::string json,
        ToJson(subject, static_cast<int>(indent), limits.max_string_bytes));
    if (json.size() > limits.max_string_bytes) {
      return TooLong(what, limits.max_string_bytes);
    }
    return Value::String(std::move(json));
  }
  if (name == "join") {
    CT_RETURN_IF_ERROR(args.Check(what, {"d", "attribute"}));
    CT_ASSIGN_OR_RETURN(std::string sep,
                        OptionalString(args, 0, "d", "", limits));
    const Value* attribute = args.Get(1, "attribute");
    CT_ASSIGN_OR_RETURN(ValueList items, Iterate(input));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += sep;
      Value item = items[i];
      if (attribute != nullptr) {
        CT_ASSIGN_OR_RETURN(std::string attr, Stringify(limits, *attribute));
        item = Attribute(item, attr);
      }
      CT_ASSIGN_OR_RETURN(std::string s, Stringify(limits, item));
      out += s;
      if (out.size() > limits.max_string_bytes) {
        return TooLong(what, limits.max_string_bytes);
      }
    }
    return Value::String(std::move(out));
  }
  if (name == "replace") {
    CT_RETURN_IF_ERROR(args.Check(what, {"old", "new", "count"}));
    if (args.Get(0, "old") == nullptr || args.Get(1, "new") == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " needs the old and the new string"));
    }
    CT_ASSIGN_OR_RETURN(std::string s, Stringify(limits, input));
    CT_ASSIGN_OR_RETURN(std::string old,
                        Stringify(limits, *args.Get(0, "old")));
    CT_ASSIGN_OR_RETURN(std::string repl,
                        Stringify(limits, *args.Get(1, "new")));
    CT_ASSIGN_OR_RETURN(int64_t count, OptionalInt(args, 2, "count", -1, what));
    if (PyReplaceSize(s, old, repl, count) > limits.max_string_bytes) {
      return TooLong(what, limits.max_string_bytes);
    }
    return Value::String(PyReplace(s, old, repl, count));
  }
  if (name == "first" || name == "last") {
    CT_RETURN_IF_ERROR(args.Check(what, {}));
    CT_ASSIGN_OR_RETURN(ValueList items, Iterate(input));
    if (items.empty()) return Value::MakeUndefined(std::string(name));
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") {
    CT_RETURN_IF_ERROR(args.Check(what, {}));
    CT_ASSIGN_OR_RETURN(ValueList items, Iterate(input));
    return Value::List(std::move(items));
  }
  if (name == "reverse") {
    CT_RETURN_IF_ERROR(args.Check(what, {}));
    if (input.is_string()) {
      std::vector<std::string_view> chars = SplitChars(input.as_string());
      std::string out;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) out.append(*it);
      return Value::String(std::move(out));
    }
    CT_ASSIGN_OR_RETURN(ValueList items, Iterate(input));
    return Value::List(ValueList(items.rbegin(), items.rend()));
  }
  if (name == "unique") {
    CT_RETURN_IF_ERROR(args.Check(what, {}));
    CT_ASSIGN_OR_RETURN(ValueList items, Iterate(input));
    ValueList out;
    for (const Value& item : items) {
      bool seen = false;
      for (const Value& o : out) seen = seen || ValuesEqual(o, item);
      if (!seen) out.push_back(item);
    }
    return Value::List(std::move(out));
  }
  if (name == "items") {
    CT_RETURN_IF_ERROR(args.Check(what, {}));
    if (input.is_undefined()) return Value::List({});
    if (!input.is_dict()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " needs a dict, not a value of type ", TypeName(input)));
    }
    ValueList out;
    for (const auto& [k, v] : input.as_dict().items()) {
      out.push_back(Value::List({Value::String(k), v}));
    }
    return Value::List(std::move(out));
  }
  if (name == "string") {
    CT_RETURN_IF_ERROR(args.Check(what, {}));
    CT_ASSIGN_OR_RETURN(std::string s, Stringify(limits, input));
    return Value::String(std::move(s));
  }
  if (name == "safe") {
    CT_RETURN_IF_ERROR(args.Check(what, {}));
    return input;
  }
  if (name == "escape" || name == "e") {
    CT_RETURN_IF_ERROR(args.Check(what, {}));
    CT_ASSIGN_OR_RETURN(std::string s, Stringify(limits, input));
    std::string out;
    for (const char c : s) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&#34;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          out += c;
      }
    }
    if (out.size() > limits.max_string_bytes) {
      return TooLong(what, limits.max_string_bytes);
    }
    return Value::String(std::move(out));
  }
  if (name == "int") {
    CT_RETURN_IF_ERROR(args.Check(what, {"default"}));
    const Value* fallback = args.Get(0, "default");
    const Value def = fallback != nullptr ? *fallback : Value::Int(0);
    if (input.is_int()) return input;
    if (input.is_bool()) return Value::Int(input.as_bool() ? 1 : 0);
    if (input.is_float()) {
      const double d = input.as_float();
      if (!std::isfinite(d) || std::fabs(d) > 9.2e18) return def;
      return Value::Int(static_cast<int64_t>(d));
    }
    if (input.is_string()) {
      const std::string s =
          PyStrip(input.as_string(), std::nullopt, StripSide::kBoth);
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && *end == '\0' && errno == 0) return Value::Int(v);
      const double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && *end == '\0' && !HasHexPrefix(s) && std::isfinite(d) &&
          std::fabs(d) < 9.2e18) {
        return Value::Int(static_cast<int64_t>(d));
      }
    }
    return def;
  }
  if (name == "float") {
    CT_RETURN_IF_ERROR(args.Check(what, {"default"}));
    const Value* fallback = args.Get(0, "default");
    const Value def = fallback != nullptr ? *fallback : Value::Float(0.0);
    if (input.is_number()) return Value::Float(input.as_number());
    if (input.is_bool()) return Value::Float(input.as_bool() ? 1.0 : 0.0);
    if (input.is_string()) {
      const std::string s =
          PyStrip(input.as_string(), std::nullopt, StripSide::kBoth);
      char* end = nullptr;
      const double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && *end == '\0' && !HasHexPrefix(s)) {
        return Value::Float(d);
      }
    }
    return def;
  }
  if (name == "abs") {
    CT_RETURN_IF_ERROR(args.Check(what, {}));
    if (input.is_int()) {
      if (input.as_int() == INT64_MIN) {
        return absl::InvalidArgumentError("abs: integer overflow");
      }
      return Value::Int(std::llabs(input.as_int()));
    }
    if (input.is_float()) return Value::Float(std::fabs(input.as_float()));
    if (input.is_bool()) return Value::Int(input.as_bool() ? 1 : 0);
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": bad operand type ", TypeName(input)));
  }
  if (name == "map") {
    CT_ASSIGN_OR_RETURN(ValueList items, Iterate(input));
    const Value* attribute = nullptr;
    for (const auto& [k, v] : args.keyword) {
      if (k == "attribute") attribute = &v;
    }
    ValueList out;
    if (attribute != nullptr) {
      CT_RETURN_IF_ERROR(args.Check(what, {"attribute", "default"}));
      CT_ASSIGN_OR_RETURN(std::string attr, Stringify(limits, *attribute));
      const Value* fallback = args.Get(1, "default");
      for (const Value& item : items) {
        Value v = Attribute(item, attr);
        if (v.is_undefined() && fallback != nullptr) v = *fallback;
        out.push_back(std::move(v));
      }
      return Value::List(std::move(out));
    }
    if (args.positional.empty() || !args.positional[0].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " needs a filter name or attribute="));
    }
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.keyword = args.keyword;
    const std::string filter = args.positional[0].as_string();
    if (filter == "map") {
      return absl::InvalidArgumentError("map cannot apply map");
    }
    for (const Value& item : items) {
      CT_ASSIGN_OR_RETURN(Value v, ApplyFilter(filter, item, rest, limits));
      out.push_back(std::move(v));
    }
    return Value::List(std::move(out));
  }
  if (name == "select") return Select(name, input, args, false, true);
  if (name == "reject") return Select(name, input, args, false, false);
  if (name == "selectattr") return Select(name, input, args, true, true);
  if (name == "rejectattr") return Select(name, input, args, true, false);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown filter '", std::string(name), "'"));
}

}  // namespace headroom::runtime::chat_template
