// The Helm chart helm/headroom without a helm binary: every .Values path that
// templates/ names is defined in values.yaml (parsed with yaml-cpp), every
// top-level value is used, values.yaml fits values.schema.json (Debian's
// python3-jsonschema, through tests/deploy/validate_values_schema.py), and
// the chart follows the project's version. Helm itself (rendering, lint) is
// not run here: there is none on the machine.
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kChart = std::string(HEADROOM_SOURCE_DIR) + "/helm/headroom";

// Every file of templates/, _helpers.tpl and NOTES.txt included, as one text.
std::string AllTemplates() {
  std::string text;
  for (const auto& entry : fs::directory_iterator(kChart + "/templates")) {
    text += ReadTextFile(entry.path().string()) + "\n";
  }
  return text;
}

TEST(HelmChartTest, EveryValuesReferenceIsDefined) {
  const std::set<std::string> refs = HelmValuesReferences(AllTemplates());
  ASSERT_GT(refs.size(), 40u);  // the checker found the references
  const YAML::Node values = YAML::LoadFile(kChart + "/values.yaml");
  EXPECT_THAT(UndefinedValues(refs, values), IsEmpty());
}

TEST(HelmChartTest, EveryTopLevelValueIsUsed) {
  const YAML::Node values = YAML::LoadFile(kChart + "/values.yaml");
  EXPECT_THAT(
      UnreferencedTopLevelValues(HelmValuesReferences(AllTemplates()), values),
      IsEmpty());
}

TEST(HelmChartTest, TemplatesHaveTheRequiredObjects) {
  for (const char* file :
       {"_helpers.tpl", "NOTES.txt", "deployment.yaml", "service.yaml",
        "configmap.yaml", "secret.yaml", "servicemonitor.yaml", "hpa.yaml",
        "pdb.yaml", "serviceaccount.yaml"}) {
    EXPECT_TRUE(fs::exists(kChart + "/templates/" + file)) << file;
  }
  const std::string deployment =
      ReadTextFile(kChart + "/templates/deployment.yaml");
  // Startup, liveness and readiness: all Kubernetes' native gRPC probe on
  // the gRPC port, grpc.health.v1's overall service "".
  const std::regex grpc_probe(
      R"(Probe:\n\s+grpc:\n\s+port: \{\{ \.Values\.ports\.grpc \}\}\n\s+service: "")");
  EXPECT_EQ(std::distance(std::sregex_iterator(deployment.begin(),
                                               deployment.end(), grpc_probe),
                          std::sregex_iterator()),
            3);
  for (const char* kind : {"startupProbe", "livenessProbe", "readinessProbe"}) {
    EXPECT_THAT(deployment, HasSubstr(kind));
  }
  const std::string helpers = ReadTextFile(kChart + "/templates/_helpers.tpl");
  EXPECT_THAT(helpers, HasSubstr("nvidia.com/gpu"));
  const std::string config = ReadTextFile(kChart + "/templates/configmap.yaml");
  EXPECT_THAT(config, HasSubstr("device: {{ include \"headroom.device\" . }}"));
  EXPECT_THAT(ReadTextFile(kChart + "/templates/hpa.yaml"),
              HasSubstr("autoscaling/v2"));
  EXPECT_THAT(ReadTextFile(kChart + "/templates/servicemonitor.yaml"),
              HasSubstr("monitoring.coreos.com/v1"));
}

TEST(HelmChartTest, ChartFollowsTheProjectVersion) {
  const YAML::Node chart = YAML::LoadFile(kChart + "/Chart.yaml");
  EXPECT_EQ(chart["apiVersion"].as<std::string>(), "v2");
  EXPECT_EQ(chart["name"].as<std::string>(), "headroom");
  const std::string cmake =
      ReadTextFile(std::string(HEADROOM_SOURCE_DIR) + "/CMakeLists.txt");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      cmake, m, std::regex(R"(project\(headroom VERSION ([0-9.]+))")));
  // The image tags the chart picks by default are APPVERSION-cpu/-cuda.
  EXPECT_EQ(chart["appVersion"].as<std::string>(), m[1].str());
}

// --- values.schema.json ------------------------------------------------------

std::string Validator() {
  return std::string(HEADROOM_SOURCE_DIR) +
         "/tests/deploy/validate_values_schema.py";
}

// /usr/bin/python3 (Debian's, with python3-jsonschema and python3-yaml), not
// whichever python3 comes first on PATH.
#define HEADROOM_REQUIRE_JSONSCHEMA()                                        \
  ASSERT_EQ(                                                                 \
      RunTool("/usr/bin/python3 -c 'import jsonschema, yaml'").exit_code, 0) \
      << "Debian's python3-jsonschema and python3-yaml are needed (bash "    \
         "scripts/setup-deps.sh)"

ToolResult Validate(const std::string& values, const std::string& schema) {
  return RunTool("/usr/bin/python3 " + Validator() + " " + values + " " +
                 schema);
}

TEST(HelmSchemaTest, ValuesFitTheSchema) {
  HEADROOM_REQUIRE_JSONSCHEMA();
  const ToolResult r =
      Validate(kChart + "/values.yaml", kChart + "/values.schema.json");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "");
}

TEST(HelmSchemaTest, SchemaRejectsBadValues) {
  HEADROOM_REQUIRE_JSONSCHEMA();
  const std::string dir = MakeTempDir("schema");
  std::string values = ReadTextFile(kChart + "/values.yaml");
  auto replace = [&values](const std::string& from, const std::string& to) {
    const size_t at = values.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    values.replace(at, from.size(), to);
  };
  replace("\ngpus: 1\n", "\ngpus: -1\n");
  replace("\ndtype: bfloat16", "\ndtype: fp8");
  replace("\nreplicaCount: 1\n", "\nreplicaCount: 1\nreplicas: 2\n");
  replace("\ntenants: []\n", "\ntenants:\n  - weight: 2\n");
  replace("blockSize: 16", "blockSize: \"16\"");
  std::ofstream(dir + "/values.yaml") << values;
  const ToolResult r =
      Validate(dir + "/values.yaml", kChart + "/values.schema.json");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("gpus: -1 is less than the minimum of 0"));
  EXPECT_THAT(r.output, HasSubstr("dtype: 'fp8' is not one of"));
  EXPECT_THAT(r.output, HasSubstr("'replicas' was unexpected"));
  EXPECT_THAT(r.output, HasSubstr("tenants.0: 'name' is a required property"));
  EXPECT_THAT(r.output, HasSubstr("engine.blockSize: '16' is not of type"));
}

TEST(HelmSchemaTest, ValidatorBadInputs) {
  HEADROOM_REQUIRE_JSONSCHEMA();
  const std::string dir = MakeTempDir("validator");
  const std::string schema = kChart + "/values.schema.json";
  // Usage.
  ToolResult r = RunTool("/usr/bin/python3 " + Validator() + " only-one");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("usage:"));
  // A values file that is missing, or not YAML.
  r = Validate(dir + "/missing.yaml", schema);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("missing.yaml"));
  std::ofstream(dir + "/broken.yaml") << "a: [unclosed\n";
  r = Validate(dir + "/broken.yaml", schema);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("broken.yaml"));
  // An empty values file is {}: the required keys are missing.
  std::ofstream(dir + "/empty.yaml") << "";
  r = Validate(dir + "/empty.yaml", schema);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("'image' is a required property"));
  // A schema that is not JSON, or not a schema.
  std::ofstream(dir + "/not-json.json") << "{\"type\": ";
  r = Validate(kChart + "/values.yaml", dir + "/not-json.json");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("not-json.json"));
  std::ofstream(dir + "/not-schema.json")
      << "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", "
         "\"type\": 5}";
  r = Validate(kChart + "/values.yaml", dir + "/not-schema.json");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("not a valid schema"));
}

// --- The checker itself
// --------------------------------------------------------

TEST(HelmValuesCheckTest, FindsReferencesInTemplates) {
  EXPECT_THAT(HelmValuesReferences(
                  "{{ .Values.a.b }} {{- with $.Values.c }}{{ .x }}{{ end }} "
                  "{{ include \"t\" . }} {{ .Values.d_e.f1 | quote }}"),
              ElementsAre("a.b", "c", "d_e.f1"));
  EXPECT_THAT(HelmValuesReferences("no references {{ .Chart.Name }}"),
              IsEmpty());
}

TEST(HelmValuesCheckTest, ReportsUndefinedAndUnusedValues) {
  const YAML::Node values =
      YAML::Load("model:\n  path: x\ngpus: 1\nunused: {}\nempty:\n");
  const std::set<std::string> refs = {"model.path", "model.nope", "missing",
                                      "gpus.count", "empty"};
  EXPECT_THAT(UndefinedValues(refs, values),
              ElementsAre("gpus.count: gpus is not a mapping",
                          "missing: no key missing at the top level",
                          "model.nope: no key nope under model"));
  EXPECT_THAT(UnreferencedTopLevelValues(refs, values), ElementsAre("unused"));
  // The values file itself not a mapping.
  EXPECT_THAT(UndefinedValues({"a"}, YAML::Load("- 1\n")),
              ElementsAre("a: the values is not a mapping"));
  EXPECT_THAT(UnreferencedTopLevelValues({"a"}, YAML::Load("- 1\n")),
              IsEmpty());
}

}  // namespace
}  // namespace headroom::testing
