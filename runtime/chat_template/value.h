// The values a chat template computes with, as Jinja (on Python) has them:
// undefined, none, booleans, integers, floats, strings, lists, dicts (string
// keys, insertion order kept, as Python's dict), namespaces (the one mutable
// kind: `namespace()`), and callables (macros and the few globals).
// Lists and dicts are immutable once built (transformers renders in an
// ImmutableSandboxedEnvironment) and shared by pointer, as strings are, so
// copies are cheap.
#ifndef HEADROOM_RUNTIME_CHAT_TEMPLATE_VALUE_H_
#define HEADROOM_RUNTIME_CHAT_TEMPLATE_VALUE_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizers/tokenizer.h"

namespace headroom::runtime::chat_template {

// Text with the byte ranges (sorted, disjoint, none empty) that came from
// untrusted input: message contents and what was made from them. Strings
// carry them through concatenation (shifted); a string a filter, method,
// index or slice makes from untrusted input is untrusted as a whole.
struct MarkedText {
  std::string text;
  std::vector<ByteRange> untrusted;
};

class Value;
using ValueList = std::vector<Value>;

class ValueDict;

// A macro or builtin; the evaluator knows how to call it.
struct Callable {
  enum class Kind {
    kMacro,
    kRaiseException,
    kNamespace,
    kRange,
    kDict,
    kLoopCycle
  };
  Kind kind;
  std::string name;
  const void* macro = nullptr;  // kMacro: its statement (evaluator.cc)
  int64_t index = 0;            // kLoopCycle: loop.index0
};

struct Undefined {
  std::string name;  // what was looked up, for error messages
};

class Value {
 public:
  enum class Type {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kNamespace,
    kCallable
  };

  Value() : v_(Undefined{}) {}
  static Value MakeUndefined(std::string name) {
    return Value(Undefined{std::move(name)});
  }
  static Value None() { return Value(nullptr); }
  static Value Bool(bool b) { return Value(b); }
  static Value Int(int64_t i) { return Value(i); }
  static Value Float(double d) { return Value(d); }
  static Value String(std::string s) {
    return Value(std::make_shared<const MarkedText>(
        MarkedText{std::move(s), std::vector<ByteRange>()}));
  }
  // A string with untrusted ranges (MarkedText's invariants).
  static Value String(MarkedText s) {
    Value v(std::make_shared<const MarkedText>(std::move(s)));
    v.untrusted_ = !v.untrusted_ranges().empty();
    return v;
  }
  // A string untrusted as a whole.
  static Value Untrusted(std::string s) {
    std::vector<ByteRange> whole;
    if (!s.empty()) whole.push_back({0, s.size()});
    return String(MarkedText{std::move(s), std::move(whole)});
  }
  static Value List(ValueList items) {
    int depth = 0;
    bool untrusted = false;
    for (const Value& v : items) {
      depth = std::max(depth, v.depth_);
      untrusted = untrusted || v.untrusted_;
    }
    Value list(std::make_shared<const ValueList>(std::move(items)));
    list.depth_ = depth + 1;
    list.untrusted_ = untrusted;
    return list;
  }
  // `untrusted_keys`: some key came from an untrusted string (the key
  // strings iterating the dict gives are then untrusted).
  static Value Dict(ValueDict dict, bool untrusted_keys = false);
  static Value Namespace(ValueDict attrs);
  static Value Function(Callable c) {
    return Value(std::make_shared<const Callable>(std::move(c)));
  }

  Type type() const { return static_cast<Type>(v_.index()); }
  // Nesting of lists and dicts: 0 for scalars, 1 + the deepest item's for
  // lists and dicts (namespaces count 1: they cannot hold namespaces).
  int depth() const { return depth_; }
  // Whether the value is or holds an untrusted string (or a dict key made
  // from one).
  bool has_untrusted() const;
  bool is_undefined() const { return type() == Type::kUndefined; }
  bool is_none() const { return type() == Type::kNone; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_float() const { return type() == Type::kFloat; }
  bool is_number() const { return is_int() || is_float(); }
  bool is_string() const { return type() == Type::kString; }
  bool is_list() const { return type() == Type::kList; }
  bool is_dict() const { return type() == Type::kDict; }
  bool is_namespace() const { return type() == Type::kNamespace; }
  bool is_callable() const { return type() == Type::kCallable; }

  const std::string& undefined_name() const {
    return std::get<Undefined>(v_).name;
  }
  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  // Int or float as a double.
  double as_number() const {
    return is_int() ? static_cast<double>(as_int()) : as_float();
  }
  const std::string& as_string() const { return marked_string().text; }
  // A string's untrusted ranges (empty when it is trusted).
  const std::vector<ByteRange>& untrusted_ranges() const {
    return marked_string().untrusted;
  }
  const MarkedText& marked_string() const {
    return *std::get<std::shared_ptr<const MarkedText>>(v_);
  }
  const ValueList& as_list() const {
    return *std::get<std::shared_ptr<const ValueList>>(v_);
  }
  const ValueDict& as_dict() const {
    return *std::get<std::shared_ptr<const ValueDict>>(v_);
  }
  ValueDict& namespace_attrs() const { return *std::get<NamespacePtr>(v_).p; }
  const Callable& as_callable() const {
    return *std::get<std::shared_ptr<const Callable>>(v_);
  }

  // Python truthiness: false for undefined, none, false, 0, 0.0, "", [], {}.
  bool Truthy() const;

 private:
  struct NamespacePtr {
    std::shared_ptr<ValueDict> p;
  };
  using Variant = std::variant<Undefined, std::nullptr_t, bool, int64_t, double,
                               std::shared_ptr<const MarkedText>,
                               std::shared_ptr<const ValueList>,
                               std::shared_ptr<const ValueDict>, NamespacePtr,
                               std::shared_ptr<const Callable>>;
  template <typename T>
  explicit Value(T v) : v_(std::move(v)) {}
  Variant v_;
  int depth_ = 0;
  bool untrusted_ = false;  // has_untrusted() for all but namespaces
};

// String-keyed map in insertion order (linear lookup: template dicts are
// small).
class ValueDict {
 public:
  const Value* Find(std::string_view key) const;
  // Inserts or replaces, keeping the first insertion's position.
  void Set(std::string key, Value value);
  const std::vector<std::pair<std::string, Value>>& items() const {
    return items_;
  }
  size_t size() const { return items_.size(); }

 private:
  std::vector<std::pair<std::string, Value>> items_;
};

inline Value Value::Dict(ValueDict dict, bool untrusted_keys) {
  int depth = 0;
  bool untrusted = untrusted_keys;
  for (const auto& [k, v] : dict.items()) {
    depth = std::max(depth, v.depth_);
    untrusted = untrusted || v.untrusted_;
  }
  Value d(std::make_shared<const ValueDict>(std::move(dict)));
  d.depth_ = depth + 1;
  d.untrusted_ = untrusted;
  return d;
}

inline bool Value::has_untrusted() const {
  if (!is_namespace()) return untrusted_;
  for (const auto& [k, v] : namespace_attrs().items()) {
    if (v.untrusted_) return true;
  }
  return false;
}

inline Value Value::Namespace(ValueDict attrs) {
  Value ns(NamespacePtr{std::make_shared<ValueDict>(std::move(attrs))});
  ns.depth_ = 1;
  return ns;
}

// Jinja's type name of a value, for error messages ("string", "list", ...).
const char* TypeName(const Value& v);

// str(v) as Python prints it: "None", "True", "1.0", "['a', 1]",
// "{'k': 'v'}"; undefined is "". Nesting deeper than kMaxNesting is
// InvalidArgument.
// Output past `max_bytes` stops with ResourceExhausted (so a list of a
// million references to one long string is not printed out in full).
absl::StatusOr<std::string> ToPythonStr(const Value& v,
                                        size_t max_bytes = SIZE_MAX);
// repr(v): strings quoted the way Python quotes them.
absl::StatusOr<std::string> ToPythonRepr(const Value& v,
                                         size_t max_bytes = SIZE_MAX);
// Python's repr of a float: the shortest digits that read back, "1.0",
// "1e+16", "inf", "nan".
std::string FormatPythonFloat(double d);

// json.dumps(v, ensure_ascii=False) as transformers' tojson filter calls it:
// separators ", " and ": " (with indent < 0), or "," and ": " with newlines
// and `indent` spaces per level. Undefined, namespaces and callables are not
// serializable (InvalidArgument), nor is nesting deeper than kMaxNesting.
absl::StatusOr<std::string> ToJson(const Value& v, int indent,
                                   size_t max_bytes = SIZE_MAX);

// A JSON document as a Value (objects become dicts in document order).
// InvalidArgument when it does not parse or nests deeper than kMaxNesting.
absl::StatusOr<Value> ValueFromJson(std::string_view json_text);

// Python ==: numbers by value (True == 1), strings, lists and dicts
// element-wise; undefined equals only undefined.
bool ValuesEqual(const Value& a, const Value& b);

// Deepest nesting of lists and dicts that printing or tojson accepts.
inline constexpr int kMaxNesting = 100;

}  // namespace headroom::runtime::chat_template

#endif  // HEADROOM_RUNTIME_CHAT_TEMPLATE_VALUE_H_
