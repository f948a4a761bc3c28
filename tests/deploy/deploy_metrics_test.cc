// The container config (deploy/config/container.yaml) served by the real
// headroom-server (the embedded model; only the paths and ports changed for
// this machine), and the metric names that the Grafana dashboard and the
// Prometheus alert rules query, each checked against the server's /metrics.
// The PromQL reading is tests/promql_metrics.h's, shared with the server
// test; its own cases, bad input included, are here too.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "server/config.h"
#include "tests/deploy/deploy_checks.h"
#include "tests/integration/server_process.h"
#include "tests/promql_metrics.h"
#include "tests/test_support.h"
#include "tests/tool_runner.h"

namespace headroom::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

const std::string kRoot = HEADROOM_SOURCE_DIR;

// --- The container configs
// ------------------------------------------------------

// The server's own parser on a container config. Until server/config.cc
// knows the CUDA keys (device, dtype), the CUDA config is skipped, not failed.
void ExpectServerAcceptsConfig(const std::string& relative) {
  auto config = server::LoadServerConfigFile(kRoot + "/" + relative);
  if (!config.ok() &&
      (absl::StrContains(config.status().message(), "device: unknown key") ||
       absl::StrContains(config.status().message(), "dtype: unknown key"))) {
    GTEST_SKIP() << relative << ": server/config.cc does not know the CUDA "
                 << "keys yet: " << config.status();
  }
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(server::ValidateServerConfig(*config).ok());
  EXPECT_EQ(config->listen, "0.0.0.0:50051");
  EXPECT_EQ(config->metrics_listen, "0.0.0.0:9464");
  EXPECT_EQ(config->http.listen, "0.0.0.0:8000");
  EXPECT_EQ(config->model.path, "/opt/headroom/models/headroom-tiny");
  EXPECT_EQ(config->compression.cache_dir, "/var/cache/headroom/projections");
}

TEST(ContainerConfigTest, CpuConfigIsAValidServerConfig) {
  ExpectServerAcceptsConfig("deploy/config/container.yaml");
}

TEST(ContainerConfigTest, CudaConfigIsAValidServerConfig) {
  ExpectServerAcceptsConfig("deploy/config/container-cuda.yaml");
}

TEST(ContainerConfigTest, CudaConfigIsTheCpuConfigOnTheGpu) {
  const YAML::Node cpu =
      YAML::LoadFile(kRoot + "/deploy/config/container.yaml");
  YAML::Node cuda =
      YAML::LoadFile(kRoot + "/deploy/config/container-cuda.yaml");
  EXPECT_FALSE(cpu["device"].IsDefined());  // cpu, the default
  EXPECT_EQ(cuda["device"].as<std::string>(), "cuda");
  EXPECT_THAT(cuda["dtype"].as<std::string>(),
              ::testing::AnyOf("float16", "bfloat16"));
  cuda.remove("device");
  cuda.remove("dtype");
  EXPECT_EQ(YAML::Dump(cuda), YAML::Dump(cpu));
}

// --- The served container config and the queried metrics
// ----------------------

class DeployMetricsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir =
        std::filesystem::temp_directory_path() /
        ("headroom_deploy_metrics_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    server_ = std::make_unique<ServerProcess>();
    // The image's paths and ports, pointed at this tree and free ports.
    ASSERT_TRUE(server_->Start(
        {"--config", kRoot + "/deploy/config/container.yaml", "--model",
         kRoot + "/models/headroom-tiny", "--projections",
         kRoot + "/models/headroom-tiny/projections-svd-a-kv4.safetensors",
         "--cache-dir", dir + "/cache", "--listen", "127.0.0.1:0",
         "--metrics-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"},
        dir + "/server.log"));
    ASSERT_TRUE(server_->WaitForLog("serving", 120)) << server_->Log();
    const HttpResponse r = HttpGet(server_->metrics_port(), "/metrics");
    ASSERT_EQ(r.status, 200);
    metrics_ = r.body;
  }

  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(60), 0) << server_->Log();
    }
    server_.reset();
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_FALSE(metrics_.empty()) << "the server did not start";
  }

  static std::unique_ptr<ServerProcess> server_;
  static std::string metrics_;
};

std::unique_ptr<ServerProcess> DeployMetricsTest::server_;
std::string DeployMetricsTest::metrics_;

TEST_F(DeployMetricsTest, HealthCheckOfTheImageSaysServing) {
  // The Dockerfile's HEALTHCHECK command, on this server's port.
  const ToolResult r =
      RunTool(BinaryPath("tools/headroom-client") +
              " health --timeout 3 --addr " + server_->grpc_address());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.stdout_text, HasSubstr("SERVING"));
  EXPECT_EQ(HttpGet(server_->metrics_port(), "/readyz").status, 200);
}

TEST_F(DeployMetricsTest, DashboardQueriesOnlyExportedMetrics) {
  const nlohmann::json dashboard =
      ReadJsonFile(kRoot + "/deploy/grafana/headroom-dashboard.json");
  auto names = DashboardMetricNames(dashboard);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_GT(names->size(), 15u);
  EXPECT_THAT(*names, ::testing::Contains("headroom:ready"));  // templating
  EXPECT_THAT(MissingMetrics(*names, metrics_), IsEmpty())
      << "the dashboard queries metrics that /metrics lacks";
}

TEST_F(DeployMetricsTest, AlertRulesQueryOnlyExportedMetrics) {
  auto rules = ReadRuleExpressions(
      ReadTextFile(kRoot + "/deploy/prometheus/alerts.yml"));
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_GE(rules->rules.size(), 3u);
  std::set<std::string> alerts;
  for (const auto& [name, expr] : rules->rules) {
    alerts.insert(name);
    auto names = PromqlMetricNames(expr);
    ASSERT_TRUE(names.ok()) << name << ": " << names.status();
    // up is Prometheus' own per-target series; recorded names come from
    // the rules themselves.
    names->erase("up");
    for (const std::string& r : rules->recorded) names->erase(r);
    EXPECT_THAT(MissingMetrics(*names, metrics_), IsEmpty())
        << name << " queries metrics that /metrics lacks: " << expr;
  }
  for (const char* required :
       {"HeadroomQueueGrowing", "HeadroomKvCacheNearlyFull",
        "HeadroomHighErrorRate"}) {
    EXPECT_EQ(alerts.count(required), 1u) << required;
  }
}

TEST_F(DeployMetricsTest, UnknownNamesAreReported) {
  // An alert on a metric the server does not export, and a histogram suffix
  // on a gauge.
  auto rules = ReadRuleExpressions(
      "groups:\n  - name: g\n    rules:\n      - alert: Bad\n"
      "        expr: headroom:queue_length > 1 and "
      "rate(headroom:kv_cache_usage_perc_bucket[5m]) > 0\n");
  ASSERT_TRUE(rules.ok()) << rules.status();
  auto names = PromqlMetricNames(rules->rules[0].second);
  ASSERT_TRUE(names.ok());
  EXPECT_THAT(MissingMetrics(*names, metrics_),
              ElementsAre("headroom:kv_cache_usage_perc_bucket",
                          "headroom:queue_length"));
  // A dashboard panel and variable naming unknown metrics (vLLM's, say).
  const nlohmann::json dashboard = nlohmann::json::parse(R"json({
    "panels": [{"targets": [{"expr": "vllm:num_requests_waiting"}]},
               {"type": "row", "panels": [
                  {"targets": [{"expr": "sum(rate(headroom:nope_total[1m]))"}]}]}],
    "templating": {"list": [
      {"type": "query", "query": {"query": "label_values(headroom:gone, instance)"}}]}
  })json");
  auto dash = DashboardMetricNames(dashboard);
  ASSERT_TRUE(dash.ok()) << dash.status();
  EXPECT_THAT(MissingMetrics(*dash, metrics_),
              ElementsAre("headroom:gone", "headroom:nope_total",
                          "vllm:num_requests_waiting"));
}

// --- The PromQL reader
// ---------------------------------------------------------------

std::set<std::string> Names(const std::string& expr) {
  auto names = PromqlMetricNames(expr);
  EXPECT_TRUE(names.ok()) << expr << ": " << names.status();
  return names.ok() ? *names : std::set<std::string>{};
}

TEST(PromqlMetricNamesTest, KeepsMetricsAndSkipsTheRest) {
  EXPECT_THAT(Names("histogram_quantile(0.99, sum by (le, tenant) "
                    "(rate(headroom:ttft_bucket{instance=~\"$instance\"}"
                    "[$__rate_interval])))"),
              ElementsAre("headroom:ttft_bucket"));
  EXPECT_THAT(Names("a - ignoring(layout) b{x=\"}{\"} * on (i) group_left "
                    "(j) c offset 5m > bool 1e3"),
              ElementsAre("a", "b", "c"));
  EXPECT_THAT(Names("sum without (x) (m1) or max(m2) unless count(m3) and "
                    "topk(3, m4) / Inf"),
              ElementsAre("m1", "m2", "m3", "m4"));
  EXPECT_THAT(Names("label_replace(m, \"dst\", \"$1\", 'src', `(.*)`) # m9"),
              ElementsAre("m"));
  EXPECT_THAT(Names("sum(x) BY (y) + vector(1) + ${var} + $v + 0x1f"),
              ElementsAre("x"));
  EXPECT_THAT(Names("rate(m[5m:1m]) @ start()"), ElementsAre("m"));
  EXPECT_THAT(Names("sum(rate(m[1m])) by (tenant)"), ElementsAre("m"));
  EXPECT_THAT(Names("{__name__=~\"headroom:.*\"}"), IsEmpty());
}

TEST(PromqlMetricNamesTest, RejectsUnbalancedExpressions) {
  for (const char* bad : {"rate(m[5m]", "m)", "m{a=\"b}", "m{a=\"b\"",
                          "rate(m[5m)", "'open", "sum by (a b", "${var"}) {
    auto names = PromqlMetricNames(bad);
    EXPECT_FALSE(names.ok()) << bad;
  }
  EXPECT_THAT(PromqlMetricNames("rate(m[5m]").status().message(),
              HasSubstr("unclosed '('"));
  EXPECT_THAT(PromqlMetricNames("m\"").status().message(),
              HasSubstr("unterminated string at offset 1"));
}

TEST(PromqlMetricNamesTest, ReadsGrafanaTemplateQueries) {
  auto names =
      GrafanaQueryMetricNames(" label_values(headroom:ready, instance)");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("headroom:ready"));
  names = GrafanaQueryMetricNames(
      "label_values(headroom:kv_heads{layout=\"a,b\"}, layer)");
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, ElementsAre("headroom:kv_heads"));
  EXPECT_THAT(*GrafanaQueryMetricNames("label_values(instance)"), IsEmpty());
  EXPECT_THAT(*GrafanaQueryMetricNames("metrics(headroom:.*)"), IsEmpty());
  EXPECT_THAT(*GrafanaQueryMetricNames("query_result(topk(3, m))"),
              ElementsAre("m"));
  // A metric whose name merely starts like a function stays a metric.
  EXPECT_THAT(*GrafanaQueryMetricNames("metrics_total"),
              ElementsAre("metrics_total"));
  for (const char* bad :
       {"label_values()", "label_values(a, b, c)", "label_values(m,)",
        "label_values(m, l", "label_values(m, l) extra", "query_result(a, b)",
        "metrics", "label_values(m{a=\"x}, l)"}) {
    EXPECT_FALSE(GrafanaQueryMetricNames(bad).ok()) << bad;
  }
}

TEST(PromqlMetricNamesTest, DashboardQueriesAndTheirErrors) {
  const nlohmann::json d = nlohmann::json::parse(R"json({
    "panels": [
      {"targets": [{"expr": "a"}, {"refId": "no expr"}]},
      {"type": "row", "panels": [{"targets": [{"expr": "b"}]}]},
      {"type": "text"}],
    "templating": {"list": [
      {"type": "datasource", "query": "prometheus"},
      {"type": "query", "query": "label_values(c, x)"},
      {"type": "query", "query": {"query": "d"}},
      {"type": "custom", "query": "1,2,3"}]}
  })json");
  EXPECT_THAT(DashboardQueries(d),
              ElementsAre("a", "b", "label_values(c, x)", "d"));
  EXPECT_THAT(*DashboardMetricNames(d),
              UnorderedElementsAre("a", "b", "c", "d"));
  EXPECT_THAT(DashboardQueries(nlohmann::json::parse("{}")), IsEmpty());
  EXPECT_THAT(
      DashboardQueries(nlohmann::json::parse(R"json({"panels": 3})json")),
      IsEmpty());
  const nlohmann::json bad = nlohmann::json::parse(
      R"({"panels": [{"targets": [{"expr": "rate(m[5m]"}]}]})");
  auto names = DashboardMetricNames(bad);
  ASSERT_FALSE(names.ok());
  EXPECT_THAT(names.status().message(), HasSubstr("rate(m[5m]"));
}

TEST(PromqlMetricNamesTest, MissingMetricsKnowsHistogramAndSummarySeries) {
  const std::string text =
      "# TYPE h histogram\nh_bucket{le=\"1\"} 0\n# TYPE s summary\n"
      "# TYPE c_total counter\n# TYPE g gauge\n# TYPE gg gauge\n";
  EXPECT_THAT(MissingMetrics({"h_bucket", "h_sum", "h_count", "s_sum",
                              "s_count", "c_total", "g", "h"},
                             text),
              IsEmpty());
  // Prefixes of names do not count; nor histogram suffixes on a summary's
  // buckets, a gauge or a counter.
  EXPECT_THAT(
      MissingMetrics({"s_bucket", "g_sum", "c", "c_total_count", "x"}, text),
      ElementsAre("c", "c_total_count", "g_sum", "s_bucket", "x"));
}

TEST(RuleExpressionsTest, ReadsAlertsAndRecordingRules) {
  auto rules = ReadRuleExpressions(
      "groups:\n  - name: a\n    rules:\n      - record: job:x:rate\n"
      "        expr: rate(x[5m])\n      - alert: High\n"
      "        expr: job:x:rate > 1\n");
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_EQ(rules->rules.size(), 2u);
  EXPECT_EQ(rules->rules[1].first, "High");
  EXPECT_EQ(rules->rules[1].second, "job:x:rate > 1");
  EXPECT_THAT(rules->recorded, ElementsAre("job:x:rate"));
}

TEST(RuleExpressionsTest, RejectsBadRuleFiles) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"groups: [unclosed\n", "malformed YAML"},
      {"rules: []\n", "no groups"},
      {"groups: []\n", "no groups"},
      {"groups:\n  - name: a\n", "groups[0]: no rules"},
      {"groups:\n  - name: a\n    rules:\n      - 3\n",
       "groups[0].rules[0]: not a mapping"},
      {"groups:\n  - name: a\n    rules:\n      - expr: up\n",
       "needs one of alert: and record:"},
      {"groups:\n  - name: a\n    rules:\n      - alert: A\n        record: b\n"
       "        expr: up\n",
       "needs one of alert: and record:"},
      {"groups:\n  - name: a\n    rules:\n      - alert: A\n",
       "groups[0].rules[0]: no expr"},
  };
  for (const auto& [yaml, message] : cases) {
    auto rules = ReadRuleExpressions(yaml);
    ASSERT_FALSE(rules.ok()) << yaml;
    EXPECT_THAT(rules.status().message(), HasSubstr(message)) << yaml;
  }
}

}  // namespace
}  // namespace headroom::testing
