// Which metrics a PromQL expression (or a Grafana dashboard, or a rules file's
// expressions) selects, and which of them a /metrics text lacks. Shared by
// the server test (the dashboard) and the deploy tests (dashboard and alert
// rules), so both read PromQL the same way.
#ifndef HEADROOM_TESTS_PROMQL_METRICS_H_
#define HEADROOM_TESTS_PROMQL_METRICS_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace headroom::testing {

// The metric names `expr` selects: every bare identifier that is not a
// function or aggregation (followed by "("), a keyword (by, on, and, bool,
// offset, ...), a label in a by/without/on/ignoring/group_* list, or inside a
// label matcher {...}, a range [...], a string or a comment. Grafana
// variables ($name, ${name}) are skipped. An unterminated string, matcher or
// range, or unbalanced parentheses, is an error naming the offset.
absl::StatusOr<std::set<std::string>> PromqlMetricNames(
    const std::string& expr);

// A Grafana query: PromQL, or one of the Prometheus data source's template
// functions label_values(METRIC, LABEL), label_values(LABEL),
// query_result(PROMQL) and metrics(REGEX) (which names no metric).
absl::StatusOr<std::set<std::string>> GrafanaQueryMetricNames(
    const std::string& query);

// Every query of a dashboard: the panels' (and rows' nested panels')
// targets[].expr and the templating variables' query (a string or
// {"query": ...}).
std::vector<std::string> DashboardQueries(const nlohmann::json& dashboard);

// The metric names of all of a dashboard's queries; an error names the
// first query that does not parse.
absl::StatusOr<std::set<std::string>> DashboardMetricNames(
    const nlohmann::json& dashboard);

// The names in `names` that a Prometheus text exposition lacks. A name is
// there when a "# TYPE name " line is; NAME_bucket, NAME_sum and NAME_count
// also count when NAME is a histogram (the last two for a summary too).
std::vector<std::string> MissingMetrics(const std::set<std::string>& names,
                                        const std::string& metrics_text);

}  // namespace headroom::testing

#endif  // HEADROOM_TESTS_PROMQL_METRICS_H_
