#include "tests/deploy/deploy_checks.h"

#include <algorithm>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace headroom::testing {
namespace {

std::string Trim(absl::string_view s) {
  return std::string(absl::StripAsciiWhitespace(s));
}

}  // namespace

// --- Helm ----------------------------------------------------------------

std::set<std::string> HelmValuesReferences(const std::string& template_text) {
  static const std::regex re(R"(\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+))");
  std::set<std::string> refs;
  for (auto it =
           std::sregex_iterator(template_text.begin(), template_text.end(), re);
       it != std::sregex_iterator(); ++it) {
    refs.insert((*it)[1].str().substr(1));  // without the leading '.'
  }
  return refs;
}

std::vector<std::string> UnreferencedTopLevelValues(
    const std::set<std::string>& refs, const YAML::Node& values) {
  std::vector<std::string> unused;
  if (!values.IsMap()) return unused;
  for (const auto& kv : values) {
    const std::string key = kv.first.as<std::string>();
    bool used = false;
    for (const std::string& ref : refs) {
      used = used || ref == key || absl::StartsWith(ref, key + ".");
    }
    if (!used) unused.push_back(key);
  }
  return unused;
}

// --- Prometheus rules ----------------------------------------------------

absl::StatusOr<RuleExpressions> ReadRuleExpressions(const std::string& yaml) {
  // A missing key of a const Node is a "zombie" whose type queries throw:
  // ask IsDefined first.
  auto is = [](const YAML::Node& n, YAML::NodeType::value type) {
    return n.IsDefined() && n.Type() == type;
  };
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed YAML: ", e.what()));
  }
  const YAML::Node groups =
      is(root, YAML::NodeType::Map) ? root["groups"] : YAML::Node();
  if (!is(groups, YAML::NodeType::Sequence) || groups.size() == 0) {
    return absl::InvalidArgumentError("no groups: list of rule groups");
  }
  RuleExpressions out;
  for (size_t g = 0; g < groups.size(); ++g) {
    const YAML::Node rules =
        is(groups[g], YAML::NodeType::Map) ? groups[g]["rules"] : YAML::Node();
    if (!is(rules, YAML::NodeType::Sequence)) {
      return absl::InvalidArgumentError(
          absl::StrCat("groups[", g, "]: no rules: list"));
    }
    for (size_t r = 0; r < rules.size(); ++r) {
      const YAML::Node rule = rules[r];
      const std::string where = absl::StrCat("groups[", g, "].rules[", r, "]");
      if (!is(rule, YAML::NodeType::Map)) {
        return absl::InvalidArgumentError(where + ": not a mapping");
      }
      const YAML::Node alert = rule["alert"], record = rule["record"],
                       expr = rule["expr"];
      const bool is_alert = is(alert, YAML::NodeType::Scalar);
      const bool is_record = is(record, YAML::NodeType::Scalar);
      if (is_alert == is_record) {
        return absl::InvalidArgumentError(where +
                                          ": needs one of alert: and record:");
      }
      if (!is(expr, YAML::NodeType::Scalar) || Trim(expr.Scalar()).empty()) {
        return absl::InvalidArgumentError(where + ": no expr:");
      }
      const std::string name = is_alert ? alert.Scalar() : record.Scalar();
      out.rules.push_back({name, expr.Scalar()});
      if (is_record) out.recorded.insert(name);
    }
  }
  return out;
}

// --- Dockerfile ----------------------------------------------------------

absl::StatusOr<std::vector<DockerInstruction>> ParseDockerfile(
    const std::string& text) {
  std::vector<DockerInstruction> out;
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  std::string current;
  int start = 0;
  bool continued = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string line = Trim(lines[i]);
    // Comments (and parser directives) and blank lines, also between the
    // lines of a continued instruction.
    if (line.empty() || line[0] == '#') continue;
    if (!continued) start = static_cast<int>(i) + 1;
    std::string piece = line;
    continued = !piece.empty() && piece.back() == '\\';
    if (continued) piece = Trim(piece.substr(0, piece.size() - 1));
    if (!piece.empty()) {
      absl::StrAppend(&current, current.empty() ? "" : " ", piece);
    }
    if (continued) continue;
    const size_t space = current.find_first_of(" \t");
    DockerInstruction ins;
    ins.line = start;
    ins.keyword = absl::AsciiStrToUpper(current.substr(0, space));
    ins.args = space == std::string::npos ? "" : Trim(current.substr(space));
    if (ins.args.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", start, ": ", ins.keyword, " without arguments"));
    }
    out.push_back(std::move(ins));
    current.clear();
  }
  if (continued) {
    return absl::InvalidArgumentError(absl::StrCat(
        "line ", start, ": the last instruction ends in a continuation '\\'"));
  }
  return out;
}

std::vector<std::string> DockerStageNames(
    const std::vector<DockerInstruction>& instructions) {
  std::vector<std::string> names;
  for (const DockerInstruction& ins : instructions) {
    if (ins.keyword != "FROM") continue;
    std::vector<std::string> t =
        absl::StrSplit(ins.args, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    // FROM [--platform=...] IMAGE [AS NAME]
    t.erase(std::remove_if(
                t.begin(), t.end(),
                [](const std::string& s) { return absl::StartsWith(s, "--"); }),
            t.end());
    names.push_back(t.size() == 3 && absl::AsciiStrToUpper(t[1]) == "AS"
                        ? absl::AsciiStrToLower(t[2])
                        : "");
  }
  return names;
}

}  // namespace headroom::testing
