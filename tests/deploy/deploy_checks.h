// Checkers of the deployment files (Dockerfile, .dockerignore, the Helm
// chart, Prometheus rules, scripts/setup-deps.sh, CMakeLists.txt), for the
// tests in tests/deploy. Each returns the problems it finds as lines of text
// (empty: none), or an error status for input it cannot read.
#ifndef HEADROOM_TESTS_DEPLOY_DEPLOY_CHECKS_H_
#define HEADROOM_TESTS_DEPLOY_DEPLOY_CHECKS_H_

#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "yaml-cpp/yaml.h"

namespace headroom::testing {

// --- Helm
// ---------------------------------------------------------------------

// The value paths ("model.path") that `.Values.model.path` references in a
// Go template name ($.Values too).
std::set<std::string> HelmValuesReferences(const std::string& template_text);

// The references of `refs` that `values` (the parsed values.yaml) lacks,
// each as "x.y: no key y under x" (or "...: x is not a mapping").
std::vector<std::string> UndefinedValues(const std::set<std::string>& refs,
                                         const YAML::Node& values);

// The top-level keys of `values` that no reference starts with.
std::vector<std::string> UnreferencedTopLevelValues(
    const std::set<std::string>& refs, const YAML::Node& values);

// --- Prometheus rules
// -----------------------------------------------------------

struct RuleExpressions {
  // (alert or record name, expr), in file order.
  std::vector<std::pair<std::string, std::string>> rules;
  std::set<std::string> recorded;  // the names record: rules define
};

// The expressions of a Prometheus rules file (groups[].rules[]). An error for
// malformed YAML, a file without groups, or a rule without alert/record or
// expr.
absl::StatusOr<RuleExpressions> ReadRuleExpressions(const std::string& yaml);

// --- Dockerfile
// -------------------------------------------------------------------

struct DockerInstruction {
  int line = 0;         // of the instruction's first line, from 1
  std::string keyword;  // upper case: FROM, COPY, RUN, ...
  std::string args;     // the rest, continuation lines joined by a space
};

// Instructions of a Dockerfile: comments and parser directives dropped,
// lines ending in '\' joined with the next. An error for a continuation at
// the end of the file or an instruction without arguments.
absl::StatusOr<std::vector<DockerInstruction>> ParseDockerfile(
    const std::string& text);

// .dockerignore rules as Docker applies them: patterns match a path or any
// of its parent directories; '*' and '?' stay within a path segment, '**'
// spans segments; a '!' pattern re-includes; the last match wins.
class DockerignoreMatcher {
 public:
  // An error for a pattern Docker rejects too (an unterminated '[').
  static absl::StatusOr<DockerignoreMatcher> Parse(const std::string& text);
  // `path` relative to the build context, '/'-separated.
  bool Excluded(const std::string& path) const;

 private:
  struct Rule {
    std::regex re;
    bool exclude;
    std::string pattern;
  };
  std::vector<Rule> rules_;
};

struct DockerfileInputs {
  std::string context_dir;  // the build context (the repository root)
  // The context's files ('/'-separated, relative): the ones a COPY of a
  // directory brings, checked against .dockerignore one by one.
  std::vector<std::string> context_files;
  const DockerignoreMatcher* dockerignore = nullptr;
};

// Checks a parsed Dockerfile:
//   - FROM: every ${ARG} of an image is declared by an ARG before the first
//     FROM; stage names are unique;
//   - COPY/ADD --from=NAME and RUN --mount=...,from=NAME name a stage
//     defined earlier (or an index below the current stage, or an image:
//     a name with '/' or ':');
//   - COPY/ADD sources from the context exist, and neither they nor any
//     context file under them is excluded by .dockerignore;
//   - RUN, CMD, ENTRYPOINT and HEALTHCHECK arguments that name a repository
//     path (scripts/..., deploy/..., models/...) name one that exists and
//     that the stage has copied in before.
std::vector<std::string> DockerfileProblems(
    const std::vector<DockerInstruction>& instructions,
    const DockerfileInputs& inputs);

// The stage names, in order ("" for a stage without AS).
std::vector<std::string> DockerStageNames(
    const std::vector<DockerInstruction>& instructions);

// The value of a global ARG (declared before the first FROM), unquoted;
// an error when there is none.
absl::StatusOr<std::string> DockerGlobalArg(
    const std::vector<DockerInstruction>& instructions,
    const std::string& name);

// --- Build files
// --------------------------------------------------------------------

// The packages of scripts/setup-deps.sh's packages=( ... ) array; an error
// when the script has none.
absl::StatusOr<std::vector<std::string>> SetupDepsPackages(
    const std::string& script);

// The names CMakeLists.txt declares with option(NAME ...) or
// set(NAME ... CACHE ...).
std::set<std::string> CMakeCacheVariables(const std::string& cmake);

// The directories of add_subdirectory(DIR ...) calls, in order.
std::vector<std::string> CMakeSubdirectories(const std::string& cmake);

}  // namespace headroom::testing

#endif  // HEADROOM_TESTS_DEPLOY_DEPLOY_CHECKS_H_
