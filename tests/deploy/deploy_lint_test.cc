// yamllint on every YAML file of the repository (the config in .yamllint),
// and promtool on the Prometheus config, the alert rules and their unit
// tests; each check also fails on a bad file, so it can fail.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/test_support.h"
#include "tests/tool_runner.h"

namespace headroom::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;

std::string Source(const std::string& relative) {
  return std::string(HEADROOM_SOURCE_DIR) + "/" + relative;
}

// The program at one of `paths`, or "" (the caller fails, naming it).
std::string FindProgram(std::initializer_list<const char*> paths) {
  for (const char* p : paths) {
    if (fs::exists(p)) return p;
  }
  return "";
}

std::string Yamllint() {
  return FindProgram({"/usr/bin/yamllint", "/usr/local/bin/yamllint"});
}
std::string Promtool() {
  return FindProgram({"/usr/bin/promtool", "/usr/local/bin/promtool"});
}

#define HEADROOM_REQUIRE_PROGRAM(var, finder, package) \
  const std::string var = finder();                    \
  ASSERT_FALSE(var.empty())                            \
      << #var << " is missing: install the Debian "    \
      << "package " << package << " (bash scripts/setup-deps.sh)"

// Every *.yaml and *.yml file of the repository as git sees it (tracked,
// and untracked ones not ignored: build trees and caches stay out) but
// Helm's templates/ (Go templates that are YAML only once rendered; the
// Helm test checks their values instead), and .yamllint itself.
std::vector<std::string> RepositoryYamlFiles() {
  const ToolResult r =
      RunTool("git -C " + std::string(HEADROOM_SOURCE_DIR) +
              " ls-files --cached --others --exclude-standard --deduplicate");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> files;
  for (absl::string_view line : absl::StrSplit(r.stdout_text, '\n')) {
    const std::string f(line);
    const bool yaml = absl::EndsWith(f, ".yaml") || absl::EndsWith(f, ".yml");
    const bool in_templates =
        absl::StartsWith(f, "helm/") && absl::StrContains(f, "/templates/");
    // Listed but deleted in the work tree: nothing to lint.
    if (((yaml && !in_templates) || f == ".yamllint") &&
        fs::exists(fs::path(HEADROOM_SOURCE_DIR) / f)) {
      files.push_back(f);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(YamllintTest, EveryRepositoryYamlFilePasses) {
  HEADROOM_REQUIRE_PROGRAM(yamllint, Yamllint, "yamllint");
  const std::vector<std::string> files = RepositoryYamlFiles();
  for (const char* expected :
       {"deploy/config/default.yaml", "deploy/config/container.yaml",
        "deploy/config/container-cuda.yaml", "deploy/compose.yaml",
        "deploy/prometheus/prometheus.yml", "deploy/prometheus/alerts.yml",
        "deploy/prometheus/alerts_test.yml",
        "deploy/grafana/provisioning/datasources/prometheus.yml",
        "deploy/grafana/provisioning/dashboards/headroom.yml",
        "helm/headroom/Chart.yaml", "helm/headroom/values.yaml", ".yamllint"}) {
    EXPECT_THAT(files, Contains(expected));
  }
  for (const std::string& f : files) {
    EXPECT_FALSE(absl::StrContains(f, "/templates/")) << f;
  }
  // From the root, so .yamllint's ignore patterns and the output's paths
  // are the repository's.
  const ToolResult r = RunTool(
      "cd " + std::string(HEADROOM_SOURCE_DIR) + " && " + yamllint +
      " --strict -f parsable -c .yamllint " + absl::StrJoin(files, " "));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(YamllintTest, ReportsBadYaml) {
  HEADROOM_REQUIRE_PROGRAM(yamllint, Yamllint, "yamllint");
  const std::string dir = MakeTempDir("yaml");
  std::ofstream(dir + "/bad.yaml") << "model:\n  path: a\n  path: b\n"
                                      "engine:\n   threads: 1   \n";
  const ToolResult r = RunTool(yamllint + " --strict -f parsable -c " +
                               Source(".yamllint") + " " + dir + "/bad.yaml");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("key-duplicates"));
  EXPECT_THAT(r.output, HasSubstr("trailing-spaces"));
  EXPECT_THAT(r.output, HasSubstr("indentation"));
  std::ofstream(dir + "/broken.yaml") << "a: [unclosed\n";
  const ToolResult broken = RunTool(yamllint + " -c " + Source(".yamllint") +
                                    " " + dir + "/broken.yaml");
  EXPECT_NE(broken.exit_code, 0);
  EXPECT_THAT(broken.output, HasSubstr("syntax error"));
}

TEST(PromtoolTest, ScrapeConfigAndItsRuleFilesPass) {
  HEADROOM_REQUIRE_PROGRAM(promtool, Promtool, "prometheus");
  const ToolResult r = RunTool(promtool + " check config " +
                               Source("deploy/prometheus/prometheus.yml"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("SUCCESS: 1 rule files found"));
}

TEST(PromtoolTest, AlertRulesPass) {
  HEADROOM_REQUIRE_PROGRAM(promtool, Promtool, "prometheus");
  const ToolResult r = RunTool(promtool + " check rules " +
                               Source("deploy/prometheus/alerts.yml"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("rules found"));
}

TEST(PromtoolTest, AlertRuleUnitTestsPass) {
  HEADROOM_REQUIRE_PROGRAM(promtool, Promtool, "prometheus");
  const ToolResult r = RunTool(promtool + " test rules " +
                               Source("deploy/prometheus/alerts_test.yml"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("SUCCESS"));
}

TEST(PromtoolTest, ReportsBadConfigRulesAndFailingRuleTests) {
  HEADROOM_REQUIRE_PROGRAM(promtool, Promtool, "prometheus");
  const std::string dir = MakeTempDir("promtool");
  // A config whose rule file does not exist.
  std::ofstream(dir + "/prometheus.yml")
      << "rule_files:\n  - missing.yml\nscrape_configs:\n"
         "  - job_name: x\n    static_configs:\n"
         "      - targets: [\"h:1\"]\n";
  ToolResult r = RunTool(promtool + " check config " + dir + "/prometheus.yml");
  EXPECT_NE(r.exit_code, 0) << r.output;

  // A rule whose expression does not parse.
  std::ofstream(dir + "/bad_rules.yml")
      << "groups:\n  - name: g\n    rules:\n      - alert: A\n"
         "        expr: rate(headroom:num_requests_waiting[5m]\n";
  r = RunTool(promtool + " check rules " + dir + "/bad_rules.yml");
  EXPECT_NE(r.exit_code, 0) << r.output;

  // The real rules with a unit test expecting an alert they do not raise.
  fs::copy_file(Source("deploy/prometheus/alerts.yml"), dir + "/alerts.yml");
  std::ofstream(dir + "/wrong_test.yml")
      << "rule_files:\n  - alerts.yml\nevaluation_interval: 1m\ntests:\n"
         "  - interval: 1m\n    input_series:\n"
         "      - series: 'headroom:kv_cache_usage_perc{instance=\"a\"}'\n"
         "        values: '0.1x20'\n"
         "    alert_rule_test:\n      - eval_time: 15m\n"
         "        alertname: HeadroomKvCacheNearlyFull\n"
         "        exp_alerts:\n          - exp_labels:\n"
         "              severity: warning\n              instance: a\n";
  r = RunTool(promtool + " test rules " + dir + "/wrong_test.yml");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("HeadroomKvCacheNearlyFull"));
}

}  // namespace
}  // namespace headroom::testing
