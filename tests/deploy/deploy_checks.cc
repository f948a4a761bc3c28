#include "tests/deploy/deploy_checks.h"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace headroom::testing {
namespace {

namespace fs = std::filesystem;

std::string Trim(absl::string_view s) {
  return std::string(absl::StripAsciiWhitespace(s));
}

std::vector<std::string> Tokens(absl::string_view s) {
  return absl::StrSplit(s, absl::ByAnyChar(" \t\n"), absl::SkipEmpty());
}

std::string Unquote(std::string s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') &&
      s.back() == s.front()) {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

// "./a/b/" -> "a/b"
std::string CleanContextPath(const std::string& path) {
  absl::string_view p = path;
  while (absl::ConsumePrefix(&p, "./") || absl::ConsumePrefix(&p, "/")) {
  }
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  return std::string(p);
}

bool IsUnder(const std::string& path, const std::string& dir) {
  return dir == "." || path == dir || absl::StartsWith(path, dir + "/");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// --- Helm
// -----------------------------------------------------------------------

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

std::vector<std::string> UndefinedValues(const std::set<std::string>& refs,
                                         const YAML::Node& values) {
  std::vector<std::string> problems;
  for (const std::string& ref : refs) {
    const std::vector<std::string> keys = absl::StrSplit(ref, '.');
    // Handles, not assignments: assigning a yaml-cpp Node changes the tree.
    std::vector<YAML::Node> chain = {values};
    std::string walked;
    for (const std::string& key : keys) {
      const YAML::Node& parent = chain.back();
      if (!parent.IsMap()) {
        problems.push_back(absl::StrCat(ref, ": ",
                                        walked.empty() ? "the values" : walked,
                                        " is not a mapping"));
        break;
      }
      const YAML::Node child = parent[key];  // const: never inserts
      if (!child.IsDefined()) {
        problems.push_back(absl::StrCat(
            ref, ": no key ", key,
            walked.empty() ? " at the top level" : " under " + walked));
        break;
      }
      chain.push_back(child);
      walked = walked.empty() ? key : absl::StrCat(walked, ".", key);
    }
  }
  return problems;
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

// --- Prometheus rules
// ---------------------------------------------------------

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

// --- Dockerfile
// -------------------------------------------------------------------

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

absl::StatusOr<DockerignoreMatcher> DockerignoreMatcher::Parse(
    const std::string& text) {
  DockerignoreMatcher m;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;
    bool exclude = true;
    if (line[0] == '!') {
      exclude = false;
      line = Trim(line.substr(1));
    }
    const std::string pattern = CleanContextPath(line);
    if (pattern.empty()) continue;
    std::string re = "^";
    for (size_t i = 0; i < pattern.size(); ++i) {
      const char c = pattern[i];
      if (c == '*') {
        if (i + 1 < pattern.size() && pattern[i + 1] == '*') {
          ++i;
          if (i + 1 < pattern.size() && pattern[i + 1] == '/') {
            ++i;
            re += "(.*/)?";  // "**/": any number of directories, or none
          } else {
            re += ".*";
          }
        } else {
          re += "[^/]*";
        }
      } else if (c == '?') {
        re += "[^/]";
      } else if (c == '[') {
        const size_t close = pattern.find(']', i + 1);
        if (close == std::string::npos) {
          return absl::InvalidArgumentError(
              absl::StrCat(".dockerignore: \"", line, "\": unterminated '['"));
        }
        std::string set = pattern.substr(i + 1, close - i - 1);
        if (!set.empty() && (set[0] == '!' || set[0] == '^')) set[0] = '^';
        re += "[" + set + "]";
        i = close;
      } else if (c == '\\' && i + 1 < pattern.size()) {
        re += "\\";
        re += pattern[++i];
      } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '/' ||
                 c == '_' || c == '-') {
        re += c;
      } else {
        re += "\\";
        re += c;
      }
    }
    re += "$";
    try {
      m.rules_.push_back({std::regex(re), exclude, line});
    } catch (const std::regex_error&) {
      return absl::InvalidArgumentError(
          absl::StrCat(".dockerignore: \"", line, "\": invalid pattern"));
    }
  }
  return m;
}

bool DockerignoreMatcher::Excluded(const std::string& path) const {
  const std::string p = CleanContextPath(path);
  std::vector<std::string> candidates = {p};  // p and its parents
  for (size_t slash = p.find('/'); slash != std::string::npos;
       slash = p.find('/', slash + 1)) {
    candidates.push_back(p.substr(0, slash));
  }
  bool excluded = false;
  for (const Rule& rule : rules_) {
    for (const std::string& c : candidates) {
      if (std::regex_match(c, rule.re)) {
        excluded = rule.exclude;
        break;
      }
    }
  }
  return excluded;
}

namespace {

struct FlagsAndRest {
  std::vector<std::pair<std::string, std::string>> flags;  // --name=value
  std::vector<std::string> rest;
};

FlagsAndRest SplitFlags(const std::vector<std::string>& tokens) {
  FlagsAndRest out;
  size_t i = 0;
  for (; i < tokens.size() && absl::StartsWith(tokens[i], "--"); ++i) {
    const size_t eq = tokens[i].find('=');
    out.flags.push_back(
        {tokens[i].substr(2, eq == std::string::npos ? eq : eq - 2),
         eq == std::string::npos ? "" : tokens[i].substr(eq + 1)});
  }
  out.rest.assign(tokens.begin() + i, tokens.end());
  return out;
}

// COPY/ADD arguments: JSON array form or whitespace-separated.
std::vector<std::string> CopyTokens(const std::string& args) {
  const std::vector<std::string> tokens = Tokens(args);
  FlagsAndRest split = SplitFlags(tokens);
  std::string rest = absl::StrJoin(split.rest, " ");
  if (!rest.empty() && rest[0] == '[') {
    try {
      const auto list = nlohmann::json::parse(rest);
      std::vector<std::string> out;
      for (const auto& [name, value] : split.flags) {
        out.push_back(absl::StrCat("--", name, "=", value));
      }
      for (const auto& v : list) out.push_back(v.get<std::string>());
      return out;
    } catch (const nlohmann::json::exception&) {
      // Not JSON after all: Docker then reads it as plain words too.
    }
  }
  return tokens;
}

// A shell script without its comments ('#' at the start of a word to the
// end of the line), so that only commands count as references.
std::string WithoutShellComments(const std::string& script) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(script, '\n')) {
    size_t cut = std::string::npos;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#' &&
          (i == 0 || std::isspace(static_cast<unsigned char>(line[i - 1])))) {
        cut = i;
        break;
      }
    }
    absl::StrAppend(&out, line.substr(0, cut), "\n");
  }
  return out;
}

bool HasGlob(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

class DockerfileChecker {
 public:
  explicit DockerfileChecker(const DockerfileInputs& in) : in_(in) {}

  std::vector<std::string> Run(const std::vector<DockerInstruction>& list) {
    for (const DockerInstruction& ins : list) {
      where_ = absl::StrCat("Dockerfile:", ins.line, ": ", ins.keyword);
      if (ins.keyword == "ARG" && stages_.empty()) {
        const std::string decl = Tokens(ins.args).front();
        global_args_.insert(decl.substr(0, decl.find('=')));
      } else if (ins.keyword == "FROM") {
        From(ins.args);
      } else if (stages_.empty()) {
        Problem("comes before the first FROM");
      } else if (ins.keyword == "COPY" || ins.keyword == "ADD") {
        Copy(ins.args);
      } else if (ins.keyword == "RUN") {
        FlagsAndRest split = SplitFlags(Tokens(ins.args));
        for (const auto& [name, value] : split.flags) {
          if (name != "mount") continue;
          for (absl::string_view kv : absl::StrSplit(value, ',')) {
            if (absl::ConsumePrefix(&kv, "from=")) StageRef(std::string(kv));
          }
        }
        PathReferences(ins.args, /*depth=*/0);
      } else if (ins.keyword == "CMD" || ins.keyword == "ENTRYPOINT" ||
                 ins.keyword == "HEALTHCHECK") {
        PathReferences(ins.args, /*depth=*/0);
      }
    }
    return problems_;
  }

 private:
  void Problem(const std::string& what) {
    problems_.push_back(absl::StrCat(where_, ": ", what));
  }

  void From(const std::string& args) {
    FlagsAndRest split = SplitFlags(Tokens(args));
    const std::vector<std::string>& t = split.rest;
    std::string name;
    if (t.size() == 3 && absl::AsciiStrToUpper(t[1]) == "AS") {
      name = absl::AsciiStrToLower(t[2]);
    } else if (t.size() != 1) {
      Problem("expected FROM IMAGE [AS NAME]");
    }
    static const std::regex var(R"(\$\{?([A-Za-z_][A-Za-z0-9_]*))");
    const std::string image = t.empty() ? "" : t[0];
    for (auto it = std::sregex_iterator(image.begin(), image.end(), var);
         it != std::sregex_iterator(); ++it) {
      if (global_args_.count((*it)[1].str()) == 0) {
        Problem(absl::StrCat("${", (*it)[1].str(),
                             "} is not an ARG declared before the first FROM"));
      }
    }
    if (!name.empty() &&
        std::find(stages_.begin(), stages_.end(), name) != stages_.end()) {
      Problem(absl::StrCat("stage ", name, " is defined twice"));
    }
    stages_.push_back(name);
    copied_.clear();
  }

  // A --from= or mount from= reference, from inside the current stage.
  void StageRef(const std::string& ref) {
    const std::string r = absl::AsciiStrToLower(ref);
    const size_t current = stages_.size() - 1;
    if (!r.empty() && std::all_of(r.begin(), r.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      if (r.size() > 6 || std::stoul(r) >= current) {
        Problem(absl::StrCat("--from=", ref, ": no earlier stage ", ref));
      }
      return;
    }
    const auto it = std::find(stages_.begin(), stages_.end(), r);
    if (it != stages_.end() &&
        static_cast<size_t>(it - stages_.begin()) < current) {
      return;
    }
    if (it != stages_.end()) {
      Problem(absl::StrCat("--from=", ref,
                           " is this stage, not an earlier "
                           "one"));
    } else if (r.find('/') != std::string::npos ||
               r.find(':') != std::string::npos) {
      return;  // an image, e.g. --from=nginx:latest
    } else {
      Problem(absl::StrCat("--from=", ref, " names no stage defined before"));
    }
  }

  void Copy(const std::string& args) {
    FlagsAndRest split = SplitFlags(CopyTokens(args));
    std::string from;
    for (const auto& [name, value] : split.flags) {
      if (name == "from") from = value;
    }
    if (split.rest.size() < 2) {
      Problem("needs a source and a destination");
      return;
    }
    if (!from.empty()) {
      StageRef(from);
      return;
    }
    for (size_t i = 0; i + 1 < split.rest.size(); ++i) {
      const std::string& src = split.rest[i];
      if (absl::StartsWith(src, "http://") ||
          absl::StartsWith(src, "https://")) {
        continue;  // ADD of a URL
      }
      if (src.find("..") != std::string::npos) {
        Problem(src + " leaves the build context");
        continue;
      }
      for (const std::string& path : Expand(src)) CheckSource(path);
    }
  }

  // Context paths a COPY source names (glob patterns expanded).
  std::vector<std::string> Expand(const std::string& src) {
    const std::string clean = CleanContextPath(src);
    if (!HasGlob(clean)) return {clean};
    std::vector<std::string> out;
    glob_t g;
    const std::string pattern = (fs::path(in_.context_dir) / clean).string();
    if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        out.push_back(
            fs::relative(g.gl_pathv[i], in_.context_dir).generic_string());
      }
    }
    ::globfree(&g);
    if (out.empty()) Problem(src + " matches no file of the build context");
    return out;
  }

  void CheckSource(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(fs::path(in_.context_dir) / path, ec)) {
      Problem(path + " does not exist in the build context");
      return;
    }
    copied_.push_back(path);
    if (in_.dockerignore == nullptr) return;
    if (in_.dockerignore->Excluded(path)) {
      Problem(path + " is excluded by .dockerignore");
      return;
    }
    for (const std::string& f : in_.context_files) {
      if (IsUnder(f, path) && in_.dockerignore->Excluded(f)) {
        Problem(absl::StrCat(f, " (under ", path,
                             ") is excluded by .dockerignore"));
      }
    }
  }

  // Repository paths named in a command; a copied shell script's own
  // references are followed one level down.
  void PathReferences(const std::string& text, int depth) {
    static const std::regex re(
        R"((?:^|[\s"'=])((?:scripts|deploy|models|tools|server|runtime|)"
        R"(compress|proto|helm)/[A-Za-z0-9_./-]*[A-Za-z0-9_-]))");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re);
         it != std::sregex_iterator(); ++it) {
      const std::string path = (*it)[1].str();
      std::error_code ec;
      if (!fs::exists(fs::path(in_.context_dir) / path, ec)) {
        Problem(path + " does not exist in the repository");
        continue;
      }
      const bool copied =
          std::any_of(copied_.begin(), copied_.end(),
                      [&](const std::string& c) { return IsUnder(path, c); });
      if (!copied) {
        Problem(
            absl::StrCat(path, " is not copied into this stage before",
                         depth > 0 ? " (a script of the stage uses it)" : ""));
        continue;
      }
      if (depth == 0 && absl::EndsWith(path, ".sh")) {
        PathReferences(WithoutShellComments(ReadFile(
                           (fs::path(in_.context_dir) / path).string())),
                       depth + 1);
      }
    }
  }

  const DockerfileInputs& in_;
  std::string where_;
  std::set<std::string> global_args_;
  std::vector<std::string> stages_;
  std::vector<std::string> copied_;  // context paths the stage has copied
  std::vector<std::string> problems_;
};

}  // namespace

std::vector<std::string> DockerfileProblems(
    const std::vector<DockerInstruction>& instructions,
    const DockerfileInputs& inputs) {
  return DockerfileChecker(inputs).Run(instructions);
}

std::vector<std::string> DockerStageNames(
    const std::vector<DockerInstruction>& instructions) {
  std::vector<std::string> names;
  for (const DockerInstruction& ins : instructions) {
    if (ins.keyword != "FROM") continue;
    const std::vector<std::string> t = SplitFlags(Tokens(ins.args)).rest;
    names.push_back(t.size() == 3 && absl::AsciiStrToUpper(t[1]) == "AS"
                        ? absl::AsciiStrToLower(t[2])
                        : "");
  }
  return names;
}

absl::StatusOr<std::string> DockerGlobalArg(
    const std::vector<DockerInstruction>& instructions,
    const std::string& name) {
  for (const DockerInstruction& ins : instructions) {
    if (ins.keyword == "FROM") break;
    if (ins.keyword != "ARG") continue;
    const size_t eq = ins.args.find('=');
    if (eq != std::string::npos && Trim(ins.args.substr(0, eq)) == name) {
      return Unquote(Trim(ins.args.substr(eq + 1)));
    }
  }
  return absl::NotFoundError(
      absl::StrCat("no ARG ", name, "=... before the first FROM"));
}

// --- Build files
// --------------------------------------------------------------------

absl::StatusOr<std::vector<std::string>> SetupDepsPackages(
    const std::string& script) {
  const size_t open = script.find("packages=(");
  const size_t close =
      open == std::string::npos ? open : script.find(')', open);
  if (close == std::string::npos) {
    return absl::NotFoundError("no packages=( ... ) array");
  }
  std::vector<std::string> packages;
  const std::string body = script.substr(open + 10, close - open - 10);
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    line = line.substr(0, line.find('#'));
    for (const std::string& t : Tokens(line)) packages.push_back(t);
  }
  if (packages.empty()) return absl::NotFoundError("packages=( ) is empty");
  return packages;
}

namespace {
std::string WithoutCMakeComments(const std::string& cmake) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(cmake, '\n')) {
    absl::StrAppend(&out, line.substr(0, line.find('#')), "\n");
  }
  return out;
}
}  // namespace

std::set<std::string> CMakeCacheVariables(const std::string& cmake) {
  const std::string text = WithoutCMakeComments(cmake);
  static const std::regex option(R"(option\s*\(\s*([A-Za-z_][A-Za-z0-9_]*))");
  static const std::regex cache(
      R"(set\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s[^)]*\bCACHE\b)");
  std::set<std::string> names;
  for (const std::regex* re : {&option, &cache}) {
    for (auto it = std::sregex_iterator(text.begin(), text.end(), *re);
         it != std::sregex_iterator(); ++it) {
      names.insert((*it)[1].str());
    }
  }
  return names;
}

std::vector<std::string> CMakeSubdirectories(const std::string& cmake) {
  const std::string text = WithoutCMakeComments(cmake);
  static const std::regex re(R"(add_subdirectory\s*\(\s*([^\s)]+))");
  std::vector<std::string> dirs;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re);
       it != std::sregex_iterator(); ++it) {
    dirs.push_back((*it)[1].str());
  }
  return dirs;
}

}  // namespace headroom::testing
