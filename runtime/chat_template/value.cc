#include "runtime/chat_template/value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace headroom::runtime::chat_template {

const Value* ValueDict::Find(std::string_view key) const {
  for (const auto& [k, v] : items_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void ValueDict::Set(std::string key, Value value) {
  for (auto& [k, v] : items_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  items_.emplace_back(std::move(key), std::move(value));
}

bool Value::Truthy() const {
  switch (type()) {
    case Type::kUndefined:
    case Type::kNone:
      return false;
    case Type::kBool:
      return as_bool();
    case Type::kInt:
      return as_int() != 0;
    case Type::kFloat:
      return as_float() != 0.0;
    case Type::kString:
      return !as_string().empty();
    case Type::kList:
      return !as_list().empty();
    case Type::kDict:
      return as_dict().size() != 0;
    case Type::kNamespace:
    case Type::kCallable:
      return true;
  }
  return false;
}

const char* TypeName(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return "undefined";
    case Value::Type::kNone:
      return "none";
    case Value::Type::kBool:
      return "boolean";
    case Value::Type::kInt:
      return "integer";
    case Value::Type::kFloat:
      return "float";
    case Value::Type::kString:
      return "string";
    case Value::Type::kList:
      return "list";
    case Value::Type::kDict:
      return "dict";
    case Value::Type::kNamespace:
      return "namespace";
    case Value::Type::kCallable:
      return "callable";
  }
  return "?";
}

std::string FormatPythonFloat(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // Shortest %e form that reads back exactly.
  char buf[40];
  for (int precision = 0; precision < 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*e", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  // buf is [-]D[.DDD]e(+|-)XX: split into digits and exponent.
  std::string s(buf);
  const bool negative = s[0] == '-';
  if (negative) s.erase(0, 1);
  const size_t e = s.find('e');
  const int exponent = std::atoi(s.c_str() + e + 1);
  std::string digits;
  for (size_t i = 0; i < e; ++i) {
    if (s[i] != '.') digits.push_back(s[i]);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = negative ? "-" : "";
  if (exponent >= -5 + 1 && exponent < 16) {
    // Positional, as repr does for 1e-4 <= |d| < 1e16.
    if (exponent < 0) {
      out += "0.";
      out.append(static_cast<size_t>(-exponent - 1), '0');
      out += digits;
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      out += digits;
      out.append(static_cast<size_t>(exponent + 1 - digits.size()), '0');
      out += ".0";
    } else {
      out += digits.substr(0, exponent + 1);
      out += ".";
      out += digits.substr(exponent + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) {
    out += ".";
    out += digits.substr(1);
  }
  absl::StrAppendFormat(&out, "e%c%02d", exponent < 0 ? '-' : '+',
                        std::abs(exponent));
  return out;
}

namespace {

absl::Status TooDeep() {
  return absl::InvalidArgumentError(
      absl::StrCat("value nested deeper than ", kMaxNesting, " levels"));
}

std::string PythonQuote(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (const char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", u);
    } else {
      out += c;
    }
  }
  out += quote;
  return out;
}

absl::Status TooLong(size_t max_bytes) {
  return absl::ResourceExhaustedError(
      absl::StrCat("a value printed over ", max_bytes, " bytes"));
}

absl::Status AppendPython(const Value& v, bool repr, int depth, size_t max,
                          std::string* out) {
  if (depth > kMaxNesting) return TooDeep();
  if (out->size() > max) return TooLong(max);
  switch (v.type()) {
    case Value::Type::kUndefined:
      return absl::OkStatus();
    case Value::Type::kNone:
      *out += "None";
      return absl::OkStatus();
    case Value::Type::kBool:
      *out += v.as_bool() ? "True" : "False";
      return absl::OkStatus();
    case Value::Type::kInt:
      absl::StrAppend(out, v.as_int());
      return absl::OkStatus();
    case Value::Type::kFloat:
      *out += FormatPythonFloat(v.as_float());
      return absl::OkStatus();
    case Value::Type::kString:
      *out += repr ? PythonQuote(v.as_string()) : v.as_string();
      return absl::OkStatus();
    case Value::Type::kList: {
      *out += "[";
      bool first = true;
      for (const Value& item : v.as_list()) {
        if (!first) *out += ", ";
        first = false;
        if (auto s = AppendPython(item, true, depth + 1, max, out); !s.ok()) {
          return s;
        }
      }
      *out += "]";
      return absl::OkStatus();
    }
    case Value::Type::kDict:
    case Value::Type::kNamespace: {
      const ValueDict& d = v.is_dict() ? v.as_dict() : v.namespace_attrs();
      *out += v.is_dict() ? "{" : "<Namespace {";
      bool first = true;
      for (const auto& [key, item] : d.items()) {
        if (!first) *out += ", ";
        first = false;
        *out += PythonQuote(key);
        *out += ": ";
        if (auto s = AppendPython(item, true, depth + 1, max, out); !s.ok()) {
          return s;
        }
      }
      *out += v.is_dict() ? "}" : "}>";
      return absl::OkStatus();
    }
    case Value::Type::kCallable:
      absl::StrAppend(out, "<function ", v.as_callable().name, ">");
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

void AppendJsonString(const std::string& s, std::string* out) {
  *out += '"';
  for (const char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      default:
        if (u < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", u);
        } else {
          *out += c;
        }
    }
  }
  *out += '"';
}

absl::Status AppendJson(const Value& v, int indent, int depth, size_t max,
                        std::string* out) {
  if (depth > kMaxNesting) return TooDeep();
  if (out->size() > max) return TooLong(max);
  auto newline = [&](int level) {
    if (indent < 0) return;
    *out += '\n';
    out->append(static_cast<size_t>(indent) * level, ' ');
  };
  const char* item_sep = indent < 0 ? ", " : ",";
  switch (v.type()) {
    case Value::Type::kNone:
      *out += "null";
      return absl::OkStatus();
    case Value::Type::kBool:
      *out += v.as_bool() ? "true" : "false";
      return absl::OkStatus();
    case Value::Type::kInt:
      absl::StrAppend(out, v.as_int());
      return absl::OkStatus();
    case Value::Type::kFloat: {
      const double d = v.as_float();
      if (std::isnan(d)) {
        *out += "NaN";
      } else if (std::isinf(d)) {
        *out += d > 0 ? "Infinity" : "-Infinity";
      } else {
        *out += FormatPythonFloat(d);
      }
      return absl::OkStatus();
    }
    case Value::Type::kString:
      AppendJsonString(v.as_string(), out);
      return absl::OkStatus();
    case Value::Type::kList: {
      const ValueList& list = v.as_list();
      if (list.empty()) {
        *out += "[]";
        return absl::OkStatus();
      }
      *out += "[";
      for (size_t i = 0; i < list.size(); ++i) {
        if (i > 0) *out += item_sep;
        newline(depth + 1);
        if (auto s = AppendJson(list[i], indent, depth + 1, max, out);
            !s.ok()) {
          return s;
        }
      }
      newline(depth);
      *out += "]";
      return absl::OkStatus();
    }
    case Value::Type::kDict: {
      const auto& items = v.as_dict().items();
      if (items.empty()) {
        *out += "{}";
        return absl::OkStatus();
      }
      *out += "{";
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) *out += item_sep;
        newline(depth + 1);
        AppendJsonString(items[i].first, out);
        *out += ": ";
        if (auto s = AppendJson(items[i].second, indent, depth + 1, max, out);
            !s.ok()) {
          return s;
        }
      }
      newline(depth);
      *out += "}";
      return absl::OkStatus();
    }
    case Value::Type::kUndefined:
    case Value::Type::kNamespace:
    case Value::Type::kCallable:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "tojson: a value of type ", TypeName(v), " is not JSON serializable"));
}

}  // namespace

absl::StatusOr<std::string> ToPythonStr(const Value& v, size_t max_bytes) {
  std::string out;
  if (auto s = AppendPython(v, false, 0, max_bytes, &out); !s.ok()) return s;
  if (out.size() > max_bytes) return TooLong(max_bytes);
  return out;
}

absl::StatusOr<std::string> ToPythonRepr(const Value& v, size_t max_bytes) {
  std::string out;
  if (auto s = AppendPython(v, true, 0, max_bytes, &out); !s.ok()) return s;
  if (out.size() > max_bytes) return TooLong(max_bytes);
  return out;
}

absl::StatusOr<std::string> ToJson(const Value& v, int indent,
                                   size_t max_bytes) {
  std::string out;
  if (auto s = AppendJson(v, indent, 0, max_bytes, &out); !s.ok()) return s;
  if (out.size() > max_bytes) return TooLong(max_bytes);
  return out;
}

bool ValuesEqual(const Value& a, const Value& b) {
  if ((a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool())) {
    auto num = [](const Value& v) -> double {
      return v.is_bool() ? (v.as_bool() ? 1.0 : 0.0) : v.as_number();
    };
    if (a.is_int() && b.is_int()) return a.as_int() == b.as_int();
    return num(a) == num(b);
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone:
      return true;
    case Value::Type::kString:
      return a.as_string() == b.as_string();
    case Value::Type::kList: {
      const ValueList& x = a.as_list();
      const ValueList& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!ValuesEqual(x[i], y[i])) return false;
      }
      return true;
    }
    case Value::Type::kDict: {
      const ValueDict& x = a.as_dict();
      const ValueDict& y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x.items()) {
        const Value* w = y.Find(k);
        if (w == nullptr || !ValuesEqual(v, *w)) return false;
      }
      return true;
    }
    case Value::Type::kNamespace:
      return &a.namespace_attrs() == &b.namespace_attrs();
    case Value::Type::kCallable:
      return &a.as_callable() == &b.as_callable();
    default:
      return false;
  }
}

}  // namespace headroom::runtime::chat_template
