// The Helm chart helm/headroom rendered by helm-render (tests/deploy/
// helm-render: helm's engine, Go's text/template with sprig, strict about
// undefined values, values.schema.json checked with helm's validator, the
// manifests checked for the fields Kubernetes requires) for the default
// values and each file of tests/deploy/helm-values/, the rendered ConfigMap
// given to headroom-server --check-config; what each values file must
// change in the rendered objects; values the schema or the server refuse.
// Also: every top-level value is used, and the chart follows the project's
// version.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/deploy/deploy_checks.h"
#include "tests/test_support.h"
#include "tests/tool_runner.h"

namespace headroom::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

const std::string kRoot = HEADROOM_SOURCE_DIR;
const std::string kChart = kRoot + "/helm/headroom";
const std::string kValues = kRoot + "/tests/deploy/helm-values/";

#define HEADROOM_REQUIRE_HELM_RENDER()                                 \
  ASSERT_NE(std::string(HEADROOM_HELM_RENDER), "")                     \
      << "helm-render needs Debian's golang-go and its packaged Go "   \
         "sources (bash scripts/setup-deps.sh), then a new cmake run"; \
  ASSERT_TRUE(fs::exists(HEADROOM_HELM_RENDER)) << HEADROOM_HELM_RENDER

// A release rendered into a directory, and its objects by file name.
struct Rendered {
  ToolResult result;
  std::map<std::string, YAML::Node> objects;  // "deployment.yaml" -> object

  const YAML::Node& operator[](const std::string& file) const {
    static const YAML::Node none;
    auto it = objects.find(file);
    return it == objects.end() ? none : it->second;
  }
  std::set<std::string> Files() const {
    std::set<std::string> files;
    for (const auto& [name, object] : objects) files.insert(name);
    return files;
  }
  // The config in the ConfigMap.
  YAML::Node Config() const {
    return YAML::Load(
        (*this)["configmap.yaml"]["data"]["config.yaml"].as<std::string>());
  }
  YAML::Node Container() const {
    return (
        *this)["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0];
  }
};

// helm-render with the values files given (none: the chart's defaults),
// its config checked by the server.
Rendered Render(const std::vector<std::string>& values_files) {
  const std::string out = MakeTempDir("helm-out");
  std::string command = std::string(HEADROOM_HELM_RENDER) + " --chart " +
                        kChart + " --output-dir " + out + " --server " +
                        BinaryPath("server/headroom-server");
  for (const std::string& f : values_files) command += " -f " + f;
  Rendered r;
  r.result = RunTool(command);
  const fs::path templates = fs::path(out) / "headroom" / "templates";
  if (r.result.exit_code != 0 || !fs::exists(templates)) return r;
  for (const auto& entry : fs::directory_iterator(templates)) {
    if (entry.path().extension() != ".yaml") continue;
    r.objects[entry.path().filename().string()] =
        YAML::LoadFile(entry.path().string());
  }
  return r;
}

std::vector<std::string> Kinds(const Rendered& r) {
  std::vector<std::string> kinds;
  for (const auto& [file, object] : r.objects) {
    kinds.push_back(object["kind"].as<std::string>());
  }
  return kinds;
}

int GrpcProbesOnPort(const YAML::Node& container, int port) {
  int n = 0;
  for (const char* probe :
       {"startupProbe", "livenessProbe", "readinessProbe"}) {
    const YAML::Node grpc = container[probe]["grpc"];
    n += grpc && grpc["port"].as<int>() == port &&
         grpc["service"].as<std::string>() == "";
  }
  return n;
}

TEST(HelmRenderTest, DefaultValues) {
  HEADROOM_REQUIRE_HELM_RENDER();
  const Rendered r = Render({});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.output;
  EXPECT_THAT(r.result.output,
              HasSubstr("headroom-server --check-config: config OK"));
  EXPECT_THAT(Kinds(r), UnorderedElementsAre("ConfigMap", "Deployment",
                                             "PodDisruptionBudget", "Service",
                                             "ServiceAccount"));
  // One GPU by default: the cuda image, device cuda, the GPU in limits.
  const YAML::Node c = r.Container();
  EXPECT_EQ(c["image"].as<std::string>(), "headroom:0.1.0-cuda");
  EXPECT_EQ(c["resources"]["limits"]["nvidia.com/gpu"].as<int>(), 1);
  EXPECT_EQ(r.Config()["device"].as<std::string>(), "cuda");
  EXPECT_EQ(r.Config()["dtype"].as<std::string>(), "bfloat16");
  // Kubernetes' native gRPC probes, grpc.health.v1's service "".
  EXPECT_EQ(GrpcProbesOnPort(c, 50051), 3);
  EXPECT_EQ(r.Config()["listen"].as<std::string>(), "0.0.0.0:50051");
  EXPECT_EQ(r["deployment.yaml"]["spec"]["replicas"].as<int>(), 1);
  // config, cache and tmp: no models or tenant-key volume without values
  // for them.
  EXPECT_EQ(r["deployment.yaml"]["spec"]["template"]["spec"]["volumes"].size(),
            3u);
}

TEST(HelmRenderTest, CpuWithAModelVolume) {
  HEADROOM_REQUIRE_HELM_RENDER();
  const Rendered r = Render({kValues + "cpu.yaml"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.output;
  const YAML::Node c = r.Container();
  EXPECT_EQ(c["image"].as<std::string>(), "headroom:0.1.0-cpu");
  EXPECT_FALSE(c["resources"]["limits"]["nvidia.com/gpu"]);
  EXPECT_EQ(c["resources"]["requests"]["cpu"].as<std::string>(), "4");
  const YAML::Node config = r.Config();
  EXPECT_EQ(config["device"].as<std::string>(), "cpu");
  EXPECT_FALSE(config["dtype"]);
  EXPECT_EQ(config["model"]["path"].as<std::string>(), "/models/llama");
  EXPECT_EQ(config["model"]["weights_dtype"].as<std::string>(), "q8_0");
  EXPECT_EQ(config["engine"]["threads"].as<int>(), 4);
  bool mounted = false;
  for (const auto& m : c["volumeMounts"]) {
    mounted = mounted || (m["name"].as<std::string>() == "models" &&
                          m["mountPath"].as<std::string>() == "/models" &&
                          m["readOnly"].as<bool>());
  }
  EXPECT_TRUE(mounted);
  bool claimed = false;
  for (const auto& v :
       r["deployment.yaml"]["spec"]["template"]["spec"]["volumes"]) {
    claimed =
        claimed || (v["name"].as<std::string>() == "models" &&
                    v["persistentVolumeClaim"]["claimName"].as<std::string>() ==
                        "llama-weights");
  }
  EXPECT_TRUE(claimed);
}

TEST(HelmRenderTest, Gpus) {
  HEADROOM_REQUIRE_HELM_RENDER();
  const Rendered r = Render({kValues + "gpu.yaml"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.output;
  const YAML::Node c = r.Container();
  EXPECT_EQ(c["image"].as<std::string>(),
            "registry.example/headroom:0.1.0-cuda");
  EXPECT_EQ(c["imagePullPolicy"].as<std::string>(), "Always");
  EXPECT_EQ(c["resources"]["limits"]["nvidia.com/gpu"].as<int>(), 2);
  EXPECT_EQ(c["resources"]["limits"]["memory"].as<std::string>(), "8Gi");
  EXPECT_EQ(r.Config()["dtype"].as<std::string>(), "float16");
  const YAML::Node pod = r["deployment.yaml"]["spec"]["template"]["spec"];
  EXPECT_EQ(pod["tolerations"][0]["key"].as<std::string>(), "nvidia.com/gpu");
  EXPECT_EQ(pod["imagePullSecrets"][0]["name"].as<std::string>(),
            "registry-credentials");
}

TEST(HelmRenderTest, TenantsWithKeysFromTheChartsSecret) {
  HEADROOM_REQUIRE_HELM_RENDER();
  const Rendered r = Render({kValues + "tenants-secret.yaml"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.output;
  EXPECT_THAT(r.result.output,
              HasSubstr("headroom-server --check-config: config OK"));
  const YAML::Node secret = r["secret.yaml"];
  EXPECT_EQ(secret["metadata"]["name"].as<std::string>(),
            "headroom-tenant-keys");
  EXPECT_EQ(secret["stringData"]["alice"].as<std::string>(),
            "alice-secret-key");
  const YAML::Node tenants = r.Config()["tenants"];
  ASSERT_EQ(tenants.size(), 3u);
  EXPECT_EQ(tenants[0]["api_key_file"].as<std::string>(),
            "/var/run/secrets/headroom/tenant-keys/alice");
  EXPECT_EQ(tenants[0]["weight"].as<int>(), 2);
  EXPECT_EQ(tenants[1]["api_key_file"].as<std::string>(),
            "/var/run/secrets/headroom/tenant-keys/bob");
  EXPECT_FALSE(tenants[2]["api_key_file"]);
  EXPECT_EQ(tenants[2]["api_key_env"].as<std::string>(), "CAROL_KEY");
  EXPECT_FALSE(r.Config()["allow_anonymous"].as<bool>());
  EXPECT_EQ(r.Container()["env"][0]["name"].as<std::string>(), "CAROL_KEY");
}

TEST(HelmRenderTest, TenantsWithKeysFromAnExistingSecret) {
  HEADROOM_REQUIRE_HELM_RENDER();
  const Rendered r = Render({kValues + "tenants-existing-secret.yaml"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.output;
  EXPECT_THAT(r.Files(), Not(Contains("secret.yaml")));
  bool named = false;
  for (const auto& v :
       r["deployment.yaml"]["spec"]["template"]["spec"]["volumes"]) {
    named = named ||
            (v["secret"] &&
             v["secret"]["secretName"].as<std::string>() == "headroom-keys");
  }
  EXPECT_TRUE(named);
  const YAML::Node tenants = r.Config()["tenants"];
  ASSERT_EQ(tenants.size(), 2u);
  EXPECT_EQ(tenants[0]["api_key_file"].as<std::string>(),
            "/var/run/secrets/headroom/tenant-keys/alice");
  EXPECT_FALSE(tenants[1]["api_key_file"]) << "anonymous needs no key";
}

TEST(HelmRenderTest, ServiceMonitorAndAutoscaling) {
  HEADROOM_REQUIRE_HELM_RENDER();
  const Rendered r = Render({kValues + "monitoring.yaml"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.output;
  EXPECT_THAT(
      Kinds(r),
      UnorderedElementsAre("ConfigMap", "Deployment", "HorizontalPodAutoscaler",
                           "Service", "ServiceAccount", "ServiceMonitor"));
  EXPECT_FALSE(r["deployment.yaml"]["spec"]["replicas"]);
  const YAML::Node hpa = r["hpa.yaml"]["spec"];
  EXPECT_EQ(hpa["minReplicas"].as<int>(), 2);
  EXPECT_EQ(hpa["maxReplicas"].as<int>(), 6);
  EXPECT_EQ(hpa["metrics"][0]["pods"]["metric"]["name"].as<std::string>(),
            "headroom_num_requests_waiting");
  const YAML::Node monitor = r["servicemonitor.yaml"];
  EXPECT_EQ(monitor["metadata"]["labels"]["release"].as<std::string>(),
            "kube-prometheus-stack");
  EXPECT_EQ(monitor["spec"]["endpoints"][0]["path"].as<std::string>(),
            "/metrics");
}

TEST(HelmRenderTest, CalibratingOnLoadWithABudget) {
  HEADROOM_REQUIRE_HELM_RENDER();
  const Rendered r = Render({kValues + "budget-on-load.yaml"});
  ASSERT_EQ(r.result.exit_code, 0) << r.result.output;
  EXPECT_THAT(r.result.output,
              HasSubstr("headroom-server --check-config: config OK"));
  const YAML::Node c = r.Config()["compression"];
  EXPECT_EQ(c["method"].as<std::string>(), "auto");
  EXPECT_EQ(c["kv_heads"].as<int>(), 0);
  EXPECT_EQ(c["kv_budget"].as<double>(), 0.5);
  EXPECT_TRUE(c["regroup"].as<bool>());
  EXPECT_EQ(c["holdback_tokens"].as<int64_t>(), 8192);
  EXPECT_EQ(c["refit_tokens"].as<int64_t>(), 32768);
  EXPECT_EQ(c["refit_ridge"].as<double>(), 0.001);
  EXPECT_EQ(c["refit_inputs"].as<std::string>(), "original");
  EXPECT_EQ(c["projections"].as<std::string>(), "");
}

TEST(HelmRenderTest, SchemaRefusesUnknownKeysAndWrongTypes) {
  HEADROOM_REQUIRE_HELM_RENDER();
  Rendered r = Render({kValues + "bad-unknown-key.yaml"});
  EXPECT_EQ(r.result.exit_code, 1) << r.result.output;
  EXPECT_THAT(r.result.output,
              HasSubstr("(root): Additional property replicas is not allowed"));
  r = Render({kValues + "bad-wrong-type.yaml"});
  EXPECT_EQ(r.result.exit_code, 1) << r.result.output;
  EXPECT_THAT(r.result.output, HasSubstr("gpus: Must be greater than or "
                                         "equal to 0"));
  EXPECT_THAT(r.result.output, HasSubstr("dtype: dtype must be one of"));
  EXPECT_THAT(r.result.output, HasSubstr("compression.kvBudget: Must be less "
                                         "than or equal to 1"));
  EXPECT_THAT(r.result.output,
              HasSubstr("engine.blockSize: Invalid type. Expected: integer, "
                        "given: string"));
  EXPECT_THAT(r.result.output, Not(HasSubstr("check-config")));
}

TEST(HelmRenderTest, ServerRefusesAConfigTheSchemaLetsThrough) {
  HEADROOM_REQUIRE_HELM_RENDER();
  const std::string dir = MakeTempDir("helm-bad");
  // Two tenants of one name: the server's rule, not the schema's.
  std::ofstream(dir + "/twice.yaml") << "tenants:\n  - name: alice\n"
                                        "    api_key_env: HOME\n"
                                        "  - name: alice\n"
                                        "    api_key_env: HOME\n";
  const Rendered r = Render({dir + "/twice.yaml"});
  EXPECT_EQ(r.result.exit_code, 1) << r.result.output;
  EXPECT_THAT(r.result.output, HasSubstr("--check-config: exit status 2"));
  EXPECT_THAT(r.result.output, HasSubstr("alice"));
}

TEST(HelmRenderTest, BadUsage) {
  HEADROOM_REQUIRE_HELM_RENDER();
  const std::string tool = HEADROOM_HELM_RENDER;
  ToolResult r = RunTool(tool);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("usage:"));
  r = RunTool(tool + " --chart " + kChart + " -f /no/such/values.yaml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("/no/such/values.yaml"));
  r = RunTool(tool + " --chart /no/such/chart");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("/no/such/chart/Chart.yaml"));
}

// --- The chart's own files ---------------------------------------------------

// Every file of templates/, _helpers.tpl and NOTES.txt included, as one text.
std::string AllTemplates() {
  std::string text;
  for (const auto& entry : fs::directory_iterator(kChart + "/templates")) {
    text += ReadTextFile(entry.path().string()) + "\n";
  }
  return text;
}

// (That every referenced value is defined is what strict rendering checks.)
TEST(HelmChartTest, EveryTopLevelValueIsUsed) {
  const std::set<std::string> refs = HelmValuesReferences(AllTemplates());
  ASSERT_GT(refs.size(), 40u);  // the checker found the references
  const YAML::Node values = YAML::LoadFile(kChart + "/values.yaml");
  EXPECT_THAT(UnreferencedTopLevelValues(refs, values), IsEmpty());
}

TEST(HelmChartTest, ChartFollowsTheProjectVersion) {
  const YAML::Node chart = YAML::LoadFile(kChart + "/Chart.yaml");
  EXPECT_EQ(chart["apiVersion"].as<std::string>(), "v2");
  EXPECT_EQ(chart["name"].as<std::string>(), "headroom");
  const std::string cmake = ReadTextFile(kRoot + "/CMakeLists.txt");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      cmake, m, std::regex(R"(project\(headroom VERSION ([0-9.]+))")));
  // The image tags the chart picks by default are APPVERSION-cpu/-cuda.
  EXPECT_EQ(chart["appVersion"].as<std::string>(), m[1].str());
}

TEST(HelmValuesCheckTest, FindsReferencesAndUnusedValues) {
  EXPECT_THAT(HelmValuesReferences(
                  "{{ .Values.a.b }} {{- with $.Values.c }}{{ .x }}{{ end }} "
                  "{{ include \"t\" . }} {{ .Values.d_e.f1 | quote }}"),
              ElementsAre("a.b", "c", "d_e.f1"));
  EXPECT_THAT(HelmValuesReferences("no references {{ .Chart.Name }}"),
              IsEmpty());
  const YAML::Node values =
      YAML::Load("model:\n  path: x\ngpus: 1\nunused: {}\n");
  EXPECT_THAT(UnreferencedTopLevelValues({"model.path", "gpus"}, values),
              ElementsAre("unused"));
  EXPECT_THAT(UnreferencedTopLevelValues({"a"}, YAML::Load("- 1\n")),
              IsEmpty());
}

}  // namespace
}  // namespace headroom::testing
