// Checkers of the deployment files (the Helm chart's values, Prometheus
// rules, the Dockerfile), for the tests in tests/deploy. What rendering the
// chart (helm-render) and building and running the image
// (scripts/container-check.sh) check is not checked here again.
#ifndef HEADROOM_TESTS_DEPLOY_DEPLOY_CHECKS_H_
#define HEADROOM_TESTS_DEPLOY_DEPLOY_CHECKS_H_

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "yaml-cpp/yaml.h"

namespace headroom::testing {

// --- Helm ----------------------------------------------------------------

// The value paths ("model.path") that `.Values.model.path` references in a
// Go template name ($.Values too).
std::set<std::string> HelmValuesReferences(const std::string& template_text);

// The top-level keys of `values` that no reference starts with.
std::vector<std::string> UnreferencedTopLevelValues(
    const std::set<std::string>& refs, const YAML::Node& values);

// --- Prometheus rules ----------------------------------------------------

struct RuleExpressions {
  // (alert or record name, expr), in file order.
  std::vector<std::pair<std::string, std::string>> rules;
  std::set<std::string> recorded;  // the names record: rules define
};

// The expressions of a Prometheus rules file (groups[].rules[]). An error for
// malformed YAML, a file without groups, or a rule without alert/record or
// expr.
absl::StatusOr<RuleExpressions> ReadRuleExpressions(const std::string& yaml);

// --- Dockerfile ----------------------------------------------------------

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

// The stage names, in order ("" for a stage without AS).
std::vector<std::string> DockerStageNames(
    const std::vector<DockerInstruction>& instructions);

}  // namespace headroom::testing

#endif  // HEADROOM_TESTS_DEPLOY_DEPLOY_CHECKS_H_
