// Tests, `x is name(...)` (builtins.h), as Jinja defines them.
#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/chat_template/builtins.h"
#include "runtime/chat_template/status_macros.h"

namespace headroom::runtime::chat_template {
namespace {

absl::StatusOr<const Value*> Operand(std::string_view what,
                                     const CallArgs& args) {
  CT_RETURN_IF_ERROR(args.Check(what, {"other"}));
  const Value* other = args.Get(0, "other");
  if (other == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " needs an argument"));
  }
  return other;
}

bool AllCased(const Value& v, bool upper) {
  if (!v.is_string()) return false;
  bool any = false;
  for (const char c : v.as_string()) {
    const bool lo = c >= 'a' && c <= 'z';
    const bool up = c >= 'A' && c <= 'Z';
    if ((upper && lo) || (!upper && up)) return false;
    any = any || lo || up;
  }
  return any;
}

}  // namespace

absl::StatusOr<bool> ApplyTest(std::string_view name, const Value& input,
                               const CallArgs& args) {
  const std::string what = absl::StrCat("test '", std::string(name), "'");
  using T = Value::Type;
  const T t = input.type();
  static constexpr std::string_view kUnary[] = {
      "defined",  "undefined", "none",   "boolean", "false",   "true",
      "integer",  "float",     "number", "string",  "mapping", "iterable",
      "sequence", "callable",  "odd",    "even",    "lower",   "upper"};
  for (std::string_view u : kUnary) {
    if (name == u) CT_RETURN_IF_ERROR(args.Check(what, {}));
  }
  if (name == "defined") return t != T::kUndefined;
  if (name == "undefined") return t == T::kUndefined;
  if (name == "none") return t == T::kNone;
  if (name == "boolean") return t == T::kBool;
  if (name == "false") return t == T::kBool && !input.as_bool();
  if (name == "true") return t == T::kBool && input.as_bool();
  if (name == "integer") return t == T::kInt;
  if (name == "float") return t == T::kFloat;
  if (name == "number") return t == T::kInt || t == T::kFloat || t == T::kBool;
  if (name == "string") return t == T::kString;
  if (name == "mapping") return t == T::kDict;
  if (name == "iterable") {
    return t == T::kString || t == T::kList || t == T::kDict;
  }
  if (name == "sequence") {
    return t == T::kString || t == T::kList || t == T::kDict;
  }
  if (name == "callable") return t == T::kCallable;
  if (name == "lower") return AllCased(input, false);
  if (name == "upper") return AllCased(input, true);
  if (name == "odd" || name == "even") {
    if (t != T::kInt) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " needs an integer, not ", TypeName(input)));
    }
    const bool odd = input.as_int() % 2 != 0;
    return name == "odd" ? odd : !odd;
  }
  if (name == "divisibleby") {
    CT_RETURN_IF_ERROR(args.Check(what, {"num"}));
    const Value* num = args.Get(0, "num");
    if (num == nullptr || !num->is_int() || t != T::kInt) {
      return absl::InvalidArgumentError(absl::StrCat(what, " needs integers"));
    }
    if (num->as_int() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": division by zero"));
    }
    if (num->as_int() == -1) return true;
    return input.as_int() % num->as_int() == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==" || name == "ne" ||
      name == "!=") {
    CT_ASSIGN_OR_RETURN(const Value* other, Operand(what, args));
    const bool eq = ValuesEqual(input, *other);
    return (name == "ne" || name == "!=") ? !eq : eq;
  }
  if (name == "lt" || name == "<" || name == "le" || name == "<=" ||
      name == "gt" || name == ">" || name == "ge" || name == ">=" ||
      name == "lessthan" || name == "greaterthan") {
    CT_ASSIGN_OR_RETURN(const Value* other, Operand(what, args));
    CT_ASSIGN_OR_RETURN(int c, CompareValues(input, *other));
    if (name == "lt" || name == "<" || name == "lessthan") return c < 0;
    if (name == "le" || name == "<=") return c <= 0;
    if (name == "gt" || name == ">" || name == "greaterthan") return c > 0;
    return c >= 0;
  }
  if (name == "in") {
    CT_RETURN_IF_ERROR(args.Check(what, {"seq"}));
    const Value* seq = args.Get(0, "seq");
    if (seq == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " needs a sequence"));
    }
    return ValueIn(input, *seq);
  }
  if (name == "sameas") {
    CT_ASSIGN_OR_RETURN(const Value* other, Operand(what, args));
    if (input.type() != other->type()) return false;
    if (input.is_none() || input.is_undefined()) return true;
    if (input.is_bool()) return input.as_bool() == other->as_bool();
    if (input.is_namespace() || input.is_callable()) {
      return ValuesEqual(input, *other);
    }
    return false;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown test '", std::string(name), "'"));
}

}  // namespace headroom::runtime::chat_template
