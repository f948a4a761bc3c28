#include "tests/promql_metrics.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace headroom::testing {
namespace {

bool IsIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool IsIdentChar(char c) {
  return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c));
}

// Words that are never metric names in PromQL (compared in lower case).
const std::set<std::string>& Keywords() {
  static const auto* words = new std::set<std::string>{
      "bool", "and", "or", "unless", "offset", "atan2", "inf", "nan",
      // Aggregation operators: also before "by (...)" or "without (...)".
      "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
      "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"};
  return *words;
}

// Modifiers followed by a parenthesised list of label names.
const std::set<std::string>& LabelListModifiers() {
  static const auto* words = new std::set<std::string>{
      "by", "without", "on", "ignoring", "group_left", "group_right"};
  return *words;
}

absl::Status Unterminated(const char* what, size_t at) {
  return absl::InvalidArgumentError(
      absl::StrCat("unterminated ", what, " at offset ", at));
}

// Skips a string literal starting at s[*i] (one of " ' `); on return *i is
// just past its closing quote.
absl::Status SkipString(const std::string& s, size_t* i) {
  const char quote = s[*i];
  const size_t start = *i;
  for (size_t j = *i + 1; j < s.size(); ++j) {
    if (quote != '`' && s[j] == '\\') {
      ++j;  // the escaped character
    } else if (s[j] == quote) {
      *i = j + 1;
      return absl::OkStatus();
    }
  }
  return Unterminated("string", start);
}

// Skips from s[*i] == open to just past the matching `close`, stepping over
// strings (a label matcher's value may hold any character).
absl::Status SkipGroup(const std::string& s, size_t* i, char open, char close,
                       const char* what) {
  const size_t start = *i;
  int depth = 0;
  size_t j = *i;
  while (j < s.size()) {
    const char c = s[j];
    if (c == '"' || c == '\'' || c == '`') {
      if (absl::Status st = SkipString(s, &j); !st.ok()) return st;
      continue;
    }
    if (c == open) ++depth;
    if (c == close && --depth == 0) {
      *i = j + 1;
      return absl::OkStatus();
    }
    ++j;
  }
  return Unterminated(what, start);
}

size_t SkipSpace(const std::string& s, size_t i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

// The top-level comma-separated arguments of "name(args)" in `call`, or an
// error when `call` is not of that form.
absl::StatusOr<std::vector<std::string>> CallArguments(
    const std::string& call, const std::string& name) {
  size_t i = SkipSpace(call, name.size());
  if (i >= call.size() || call[i] != '(') {
    return absl::InvalidArgumentError(absl::StrCat("expected ", name, "(...)"));
  }
  std::vector<std::string> args;
  std::string current;
  int depth = 0;
  for (++i; i < call.size(); ++i) {
    const char c = call[i];
    if (c == '"' || c == '\'' || c == '`' || c == '{' || c == '[') {
      size_t j = i;
      absl::Status st = c == '{'   ? SkipGroup(call, &j, '{', '}', "matcher")
                        : c == '[' ? SkipGroup(call, &j, '[', ']', "range")
                                   : SkipString(call, &j);
      if (!st.ok()) return st;
      current += call.substr(i, j - i);
      i = j - 1;
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')' && depth-- == 0) {
      if (!absl::StripAsciiWhitespace(call.substr(i + 1)).empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("text after ", name, "(...)"));
      }
      args.push_back(std::string(absl::StripAsciiWhitespace(current)));
      return args;
    }
    if (c == ',' && depth == 0) {
      args.push_back(std::string(absl::StripAsciiWhitespace(current)));
      current.clear();
      continue;
    }
    current += c;
  }
  return Unterminated("parenthesis", name.size());
}

}  // namespace

absl::StatusOr<std::set<std::string>> PromqlMetricNames(
    const std::string& expr) {
  std::set<std::string> names;
  int depth = 0;
  size_t i = 0;
  while (i < expr.size()) {
    const char c = expr[i];
    if (c == '"' || c == '\'' || c == '`') {
      if (absl::Status s = SkipString(expr, &i); !s.ok()) return s;
    } else if (c == '{') {
      if (absl::Status s = SkipGroup(expr, &i, '{', '}', "label matcher");
          !s.ok()) {
        return s;
      }
    } else if (c == '[') {
      if (absl::Status s = SkipGroup(expr, &i, '[', ']', "range"); !s.ok()) {
        return s;
      }
    } else if (c == '#') {
      while (i < expr.size() && expr[i] != '\n') ++i;
    } else if (c == '$') {  // Grafana: $name, ${name}, $__rate_interval
      ++i;
      if (i < expr.size() && expr[i] == '{') {
        if (absl::Status s = SkipGroup(expr, &i, '{', '}', "variable");
            !s.ok()) {
          return s;
        }
      } else {
        while (i < expr.size() && IsIdentChar(expr[i])) ++i;
      }
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && i + 1 < expr.size() &&
                std::isdigit(static_cast<unsigned char>(expr[i + 1])))) {
      // Numbers and durations: 0.99, 1e9, 0x1f, 5m, 1h30m.
      while (i < expr.size() && (IsIdentChar(expr[i]) || expr[i] == '.')) ++i;
    } else if (IsIdentStart(c)) {
      const size_t start = i;
      while (i < expr.size() && IsIdentChar(expr[i])) ++i;
      const std::string word = expr.substr(start, i - start);
      const std::string lower = absl::AsciiStrToLower(word);
      const size_t next = SkipSpace(expr, i);
      const bool call = next < expr.size() && expr[next] == '(';
      if (LabelListModifiers().count(lower) > 0) {
        if (call) {
          i = next;
          if (absl::Status s = SkipGroup(expr, &i, '(', ')', "label list");
              !s.ok()) {
            return s;
          }
        }
      } else if (Keywords().count(lower) == 0 && !call) {
        names.insert(word);
      }
    } else {
      if (c == '(') ++depth;
      if (c == ')' && --depth < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("unbalanced ')' at offset ", i));
      }
      ++i;
    }
  }
  if (depth != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(depth, " unclosed '(' at the end"));
  }
  return names;
}

absl::StatusOr<std::set<std::string>> GrafanaQueryMetricNames(
    const std::string& query) {
  const std::string q(absl::StripAsciiWhitespace(query));
  for (const std::string name : {"label_values", "query_result", "metrics"}) {
    if (q.rfind(name, 0) != 0 ||
        (q.size() > name.size() && IsIdentChar(q[name.size()]))) {
      continue;
    }
    auto args = CallArguments(q, name);
    if (!args.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Grafana query \"", q, "\": ", args.status().message()));
    }
    if (name == "metrics") return std::set<std::string>{};
    if (name == "query_result") {
      if (args->size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Grafana query \"", q, "\": query_result takes one expression"));
      }
      return PromqlMetricNames(args->front());
    }
    // label_values(LABEL) or label_values(METRIC_OR_SELECTOR, LABEL).
    if (args->empty() || args->size() > 2 || args->back().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Grafana query \"", q, "\": label_values takes (LABEL) or ",
          "(METRIC, LABEL)"));
    }
    if (args->size() == 1) return std::set<std::string>{};
    return PromqlMetricNames(args->front());
  }
  return PromqlMetricNames(q);
}

std::vector<std::string> DashboardQueries(const nlohmann::json& dashboard) {
  std::vector<std::string> out;
  // Rows hold their panels in "panels" too (collapsed rows).
  std::vector<const nlohmann::json*> panels;
  if (dashboard.contains("panels") && dashboard["panels"].is_array()) {
    for (const auto& p : dashboard["panels"]) panels.push_back(&p);
  }
  for (size_t k = 0; k < panels.size(); ++k) {
    const nlohmann::json& p = *panels[k];
    if (!p.is_object()) continue;
    if (p.contains("panels") && p["panels"].is_array()) {
      for (const auto& inner : p["panels"]) panels.push_back(&inner);
    }
    if (!p.contains("targets") || !p["targets"].is_array()) continue;
    for (const auto& t : p["targets"]) {
      if (t.is_object() && t.contains("expr") && t["expr"].is_string()) {
        out.push_back(t["expr"].get<std::string>());
      }
    }
  }
  if (dashboard.contains("templating") &&
      dashboard["templating"].contains("list") &&
      dashboard["templating"]["list"].is_array()) {
    for (const auto& v : dashboard["templating"]["list"]) {
      // Data source variables name a plugin type, not a query.
      if (!v.is_object() || v.value("type", "") != "query" ||
          !v.contains("query")) {
        continue;
      }
      const nlohmann::json& q = v["query"];
      if (q.is_string()) {
        out.push_back(q.get<std::string>());
      } else if (q.is_object() && q.contains("query") &&
                 q["query"].is_string()) {
        out.push_back(q["query"].get<std::string>());
      }
    }
  }
  return out;
}

absl::StatusOr<std::set<std::string>> DashboardMetricNames(
    const nlohmann::json& dashboard) {
  std::set<std::string> names;
  for (const std::string& q : DashboardQueries(dashboard)) {
    auto found = GrafanaQueryMetricNames(q);
    if (!found.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("query \"", q, "\": ", found.status().message()));
    }
    names.insert(found->begin(), found->end());
  }
  return names;
}

std::vector<std::string> MissingMetrics(const std::set<std::string>& names,
                                        const std::string& metrics_text) {
  auto has_type = [&metrics_text](const std::string& name,
                                  const std::string& type) {
    return metrics_text.find(absl::StrCat("# TYPE ", name, " ", type)) !=
           std::string::npos;
  };
  std::vector<std::string> missing;
  for (const std::string& name : names) {
    if (has_type(name, "")) continue;
    bool found = false;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      absl::string_view base = name;
      if (!absl::ConsumeSuffix(&base, suffix)) continue;
      const std::string b(base);
      found = has_type(b, "histogram\n") ||
              (std::string(suffix) != "_bucket" && has_type(b, "summary\n"));
    }
    if (!found) missing.push_back(name);
  }
  return missing;
}

}  // namespace headroom::testing
