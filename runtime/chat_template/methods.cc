// Methods of strings and dicts, `s.strip()` (builtins.h), as Python's.
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/chat_template/builtins.h"
#include "runtime/chat_template/py_string.h"
#include "runtime/chat_template/status_macros.h"

namespace headroom::runtime::chat_template {
namespace {

constexpr std::string_view kStringMethods[] = {
    "capitalize", "count",   "endswith", "find",    "isalnum", "isalpha",
    "isdigit",    "islower", "isspace",  "isupper", "join",    "lower",
    "lstrip",     "replace", "rfind",    "rstrip",  "split",   "startswith",
    "strip",      "title",   "upper"};
constexpr std::string_view kDictMethods[] = {"get", "items", "keys", "values"};

absl::StatusOr<std::string> StringArg(const std::string& what, const Value& v) {
  if (!v.is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": expected a string argument, not ", TypeName(v)));
  }
  return v.as_string();
}

// Optional chars argument of strip/lstrip/rstrip (none: whitespace).
absl::StatusOr<std::optional<std::string>> Chars(const std::string& what,
                                                 const CallArgs& args) {
  const Value* v = args.Get(0, "chars");
  if (v == nullptr || v->is_none()) return std::optional<std::string>();
  CT_ASSIGN_OR_RETURN(std::string s, StringArg(what, *v));
  return std::optional<std::string>(std::move(s));
}

bool AllChars(const std::string& s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}

absl::StatusOr<Value> StringMethod(const std::string& s, std::string_view name,
                                   const CallArgs& args,
                                   const BuiltinLimits& limits) {
  const std::string what = absl::StrCat("str.", std::string(name));
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    CT_RETURN_IF_ERROR(args.Check(what, {"chars"}));
    CT_ASSIGN_OR_RETURN(std::optional<std::string> chars, Chars(what, args));
    const StripSide side = name == "strip"    ? StripSide::kBoth
                           : name == "lstrip" ? StripSide::kLeft
                                              : StripSide::kRight;
    return Value::String(PyStrip(s, chars, side));
  }
  if (name == "startswith" || name == "endswith") {
    CT_RETURN_IF_ERROR(args.Check(what, {"prefix"}));
    const Value* arg = args.Get(0, "prefix");
    if (arg == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " needs 1 argument"));
    }
    ValueList options = arg->is_list() ? arg->as_list() : ValueList{*arg};
    for (const Value& o : options) {
      CT_ASSIGN_OR_RETURN(std::string p, StringArg(what, o));
      if (p.size() > s.size()) continue;
      if (name == "startswith"
              ? s.compare(0, p.size(), p) == 0
              : s.compare(s.size() - p.size(), p.size(), p) == 0) {
        return Value::Bool(true);
      }
    }
    return Value::Bool(false);
  }
  if (name == "split") {
    CT_RETURN_IF_ERROR(args.Check(what, {"sep", "maxsplit"}));
    const Value* sep = args.Get(0, "sep");
    std::optional<std::string> separator;
    if (sep != nullptr && !sep->is_none()) {
      CT_ASSIGN_OR_RETURN(separator, StringArg(what, *sep));
      if (separator->empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": empty separator"));
      }
    }
    int64_t maxsplit = -1;
    if (const Value* m = args.Get(1, "maxsplit"); m != nullptr) {
      if (!m->is_int()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": maxsplit must be an integer"));
      }
      maxsplit = m->as_int();
    }
    ValueList out;
    for (std::string& part : PySplit(s, separator, maxsplit)) {
      out.push_back(Value::String(std::move(part)));
    }
    return Value::List(std::move(out));
  }
  if (name == "replace") {
    CT_RETURN_IF_ERROR(args.Check(what, {"old", "new", "count"}));
    const Value* old = args.Get(0, "old");
    const Value* repl = args.Get(1, "new");
    if (old == nullptr || repl == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " needs 2 arguments"));
    }
    CT_ASSIGN_OR_RETURN(std::string o, StringArg(what, *old));
    CT_ASSIGN_OR_RETURN(std::string r, StringArg(what, *repl));
    int64_t count = -1;
    if (const Value* c = args.Get(2, "count"); c != nullptr) {
      if (!c->is_int()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": count must be an integer"));
      }
      count = c->as_int();
    }
    if (PyReplaceSize(s, o, r, count) > limits.max_string_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat(what, " would build a string over ",
                       limits.max_string_bytes, " bytes"));
    }
    return Value::String(PyReplace(s, o, r, count));
  }
  if (name == "upper" || name == "lower" || name == "title" ||
      name == "capitalize") {
    CT_RETURN_IF_ERROR(args.Check(what, {}));
    if (name == "upper") return Value::String(PyUpper(s));
    if (name == "lower") return Value::String(PyLower(s));
    if (name == "title") return Value::String(PyTitle(s));
    return Value::String(PyCapitalize(s));
  }
  if (name == "find" || name == "rfind" || name == "count") {
    CT_RETURN_IF_ERROR(args.Check(what, {"sub"}));
    const Value* sub = args.Get(0, "sub");
    if (sub == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " needs 1 argument"));
    }
    CT_ASSIGN_OR_RETURN(std::string needle, StringArg(what, *sub));
    if (name == "count") {
      if (needle.empty()) return Value::Int(CharCount(s) + 1);
      int64_t n = 0;
      for (size_t p = s.find(needle); p != std::string::npos;
           p = s.find(needle, p + needle.size())) {
        ++n;
      }
      return Value::Int(n);
    }
    const size_t p = name == "find" ? s.find(needle) : s.rfind(needle);
    if (p == std::string::npos) return Value::Int(-1);
    return Value::Int(CharCount(std::string_view(s).substr(0, p)));
  }
  if (name == "join") {
    CT_RETURN_IF_ERROR(args.Check(what, {"iterable"}));
    const Value* items = args.Get(0, "iterable");
    if (items == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " needs 1 argument"));
    }
    CT_ASSIGN_OR_RETURN(ValueList list, Iterate(*items));
    std::string out;
    for (size_t i = 0; i < list.size(); ++i) {
      if (i > 0) out += s;
      CT_ASSIGN_OR_RETURN(std::string part, StringArg(what, list[i]));
      out += part;
      if (out.size() > limits.max_string_bytes) {
        return absl::ResourceExhaustedError(
            absl::StrCat(what, " would build a string over ",
                         limits.max_string_bytes, " bytes"));
      }
    }
    return Value::String(std::move(out));
  }
  CT_RETURN_IF_ERROR(args.Check(what, {}));
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  auto is_alpha = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  auto is_alnum = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
  };
  if (name == "isdigit") return Value::Bool(AllChars(s, is_digit));
  if (name == "isalpha") return Value::Bool(AllChars(s, is_alpha));
  if (name == "isalnum") return Value::Bool(AllChars(s, is_alnum));
  if (name == "isspace") return Value::Bool(AllChars(s, IsPyWhitespace));
  if (name == "islower" || name == "isupper") {
    bool any = false;
    for (const char c : s) {
      const bool lo = c >= 'a' && c <= 'z';
      const bool up = c >= 'A' && c <= 'Z';
      if ((name == "islower" && up) || (name == "isupper" && lo)) {
        return Value::Bool(false);
      }
      any = any || lo || up;
    }
    return Value::Bool(any);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("strings have no method '", std::string(name), "'"));
}

absl::StatusOr<Value> DictMethod(const ValueDict& d, std::string_view name,
                                 const CallArgs& args) {
  const std::string what = absl::StrCat("dict.", std::string(name));
  if (name == "get") {
    CT_RETURN_IF_ERROR(args.Check(what, {"key", "default"}));
    const Value* key = args.Get(0, "key");
    if (key == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(what, " needs a key"));
    }
    const Value* fallback = args.Get(1, "default");
    const Value* found = key->is_string() ? d.Find(key->as_string()) : nullptr;
    if (found != nullptr) return *found;
    return fallback != nullptr ? *fallback : Value::None();
  }
  CT_RETURN_IF_ERROR(args.Check(what, {}));
  ValueList out;
  for (const auto& [k, v] : d.items()) {
    if (name == "items") {
      out.push_back(Value::List({Value::String(k), v}));
    } else if (name == "keys") {
      out.push_back(Value::String(k));
    } else {
      out.push_back(v);
    }
  }
  return Value::List(std::move(out));
}

}  // namespace

bool HasMethod(const Value& object, std::string_view name) {
  if (object.is_string()) {
    for (std::string_view m : kStringMethods) {
      if (m == name) return true;
    }
  }
  if (object.is_dict()) {
    for (std::string_view m : kDictMethods) {
      if (m == name) return true;
    }
  }
  return false;
}

absl::StatusOr<Value> CallMethod(const Value& object, std::string_view name,
                                 const CallArgs& args,
                                 const BuiltinLimits& limits) {
  if (object.is_string()) {
    return StringMethod(object.as_string(), name, args, limits);
  }
  if (object.is_dict() && HasMethod(object, name)) {
    return DictMethod(object.as_dict(), name, args);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("a value of type ", TypeName(object), " has no method '",
                   std::string(name), "'"));
}

}  // namespace headroom::runtime::chat_template
