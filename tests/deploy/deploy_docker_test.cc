// The Dockerfile's CUDA target against its cpu target, which
// scripts/container-check.sh builds, runs and checks from outside (CI); the
// container scripts' bad inputs; compose.yaml's files, services and ports.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "tests/deploy/deploy_checks.h"
#include "tests/test_support.h"
#include "tests/tool_runner.h"

namespace headroom::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kRoot = HEADROOM_SOURCE_DIR;

std::vector<DockerInstruction> Dockerfile() {
  auto parsed = ParseDockerfile(ReadTextFile(kRoot + "/Dockerfile"));
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : std::vector<DockerInstruction>{};
}

// The instructions of each named stage.
std::map<std::string, std::vector<DockerInstruction>> Stages(
    const std::vector<DockerInstruction>& all) {
  std::map<std::string, std::vector<DockerInstruction>> stages;
  std::string current;
  const std::vector<std::string> names = DockerStageNames(all);
  size_t index = 0;
  for (const DockerInstruction& ins : all) {
    if (ins.keyword == "FROM") current = names[index++];
    if (!current.empty()) stages[current].push_back(ins);
  }
  return stages;
}

// The args of the stage's instructions with `keyword`.
std::vector<std::string> Args(const std::vector<DockerInstruction>& stage,
                              const std::string& keyword) {
  std::vector<std::string> out;
  for (const DockerInstruction& ins : stage) {
    if (ins.keyword == keyword) out.push_back(ins.args);
  }
  return out;
}

// --- The CUDA target, which CI cannot build (no nvidia/cuda base image and
// no GPU here), against the cpu target that scripts/container-check.sh
// builds, runs and checks: the same instructions but for the base images,
// the CUDA switch, the config file and the NVIDIA environment.

// The stage's instructions after its FROM, with the CUDA target's names
// replaced by the cpu target's.
std::vector<std::string> AsCpu(const std::vector<DockerInstruction>& stage) {
  std::vector<std::string> out;
  for (size_t i = 1; i < stage.size(); ++i) {
    std::string line = stage[i].keyword + " " + stage[i].args;
    for (const auto& [from, to] :
         std::vector<std::pair<std::string, std::string>>{
             {"container-build.sh ON ", "container-build.sh OFF "},
             {"id=headroom-ccache-cuda", "id=headroom-ccache-cpu"},
             {"--from=build-cuda ", "--from=build-cpu "},
             {"deploy/config/container-cuda.yaml ",
              "deploy/config/container.yaml "}}) {
      for (size_t at = line.find(from); at != std::string::npos;
           at = line.find(from, at + to.size())) {
        line.replace(at, from.size(), to);
      }
    }
    out.push_back(line);
  }
  return out;
}

TEST(DockerfileTest, CudaTargetMirrorsTheCpuTarget) {
  auto stages = Stages(Dockerfile());
  ASSERT_EQ(stages.size(), 4u);
  EXPECT_EQ(stages["build-cuda"][0].args,
            "nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION} AS "
            "build-cuda");
  EXPECT_EQ(stages["cuda"][0].args,
            "nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION} AS "
            "cuda");
  EXPECT_EQ(AsCpu(stages["build-cuda"]), AsCpu(stages["build-cpu"]));
  // The runtime stages: the same but for the ENV line, where the CUDA
  // image adds the NVIDIA container toolkit's variables.
  std::vector<std::string> cuda = AsCpu(stages["cuda"]);
  std::vector<std::string> cpu = AsCpu(stages["cpu"]);
  ASSERT_EQ(cuda.size(), cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (absl::StartsWith(cpu[i], "ENV ")) {
      EXPECT_THAT(cuda[i], HasSubstr(cpu[i].substr(4)));
      EXPECT_THAT(cuda[i], HasSubstr("NVIDIA_VISIBLE_DEVICES=all"));
    } else {
      EXPECT_EQ(cuda[i], cpu[i]);
    }
  }
  // The check catches a difference.
  std::vector<DockerInstruction> drifted = stages["build-cuda"];
  drifted.push_back({0, "COPY", "bench bench"});
  EXPECT_NE(AsCpu(drifted), AsCpu(stages["build-cpu"]));
}

// --- The container scripts' bad inputs (the builds themselves need Docker) --

std::string Script(const std::string& name) {
  return "bash " + kRoot + "/scripts/" + name;
}

TEST(ContainerScriptsTest, BuildScriptRejectsBadArguments) {
  for (const char* args : {"", " ON", " MAYBE /tmp/x", " ON ''", " ON a b"}) {
    const ToolResult r = RunTool(Script("container-build.sh") + args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("usage:")) << args;
  }
}

TEST(ContainerScriptsTest, RuntimePackagesOfARealProgram) {
  const ToolResult r = RunTool(Script("container-runtime-packages.sh") + " " +
                               BinaryPath("tools/headroom-client"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> packages =
      absl::StrSplit(r.stdout_text, '\n', absl::SkipEmpty());
  EXPECT_THAT(packages, Contains("libc6"));
  EXPECT_TRUE(std::is_sorted(packages.begin(), packages.end()));
  EXPECT_EQ(std::adjacent_find(packages.begin(), packages.end()),
            packages.end());
}

TEST(ContainerScriptsTest, RuntimePackagesBadInputs) {
  const std::string dir = MakeTempDir("ldd");
  const std::string script = Script("container-runtime-packages.sh");
  ToolResult r = RunTool(script);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("usage:"));
  r = RunTool(script + " " + dir + "/no-such-program");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("no-such-program: no such file"));
  // A fake ldd (LDD) lists what a program needs.
  std::ofstream(dir + "/program") << "";
  auto fake_ldd = [&dir](const std::string& listing) {
    std::ofstream(dir + "/ldd") << "#!/bin/sh\ncat <<'EOF'\n"
                                << listing << "\nEOF\n";
    fs::permissions(dir + "/ldd", fs::perms::owner_all);
    return "LDD=" + dir + "/ldd ";
  };
  // A library that is not found.
  r = RunTool(fake_ldd("\tlibmissing.so.1 => not found") + script + " " + dir +
              "/program");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("needs libmissing.so.1, which is not found"));
  // A library from no package.
  std::ofstream(dir + "/libloose.so.1") << "";
  r = RunTool(fake_ldd("\tlibloose.so.1 => " + dir + "/libloose.so.1 (0x1)") +
              script + " " + dir + "/program");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("libloose.so.1 (needed by"));
  EXPECT_THAT(r.output, HasSubstr("is not from a package"));
  // ldd failing (not a dynamic program).
  std::ofstream(dir + "/ldd") << "#!/bin/sh\necho 'not a dynamic executable'\n"
                                 "exit 1\n";
  r = RunTool("LDD=" + dir + "/ldd " + script + " " + dir + "/program");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("ldd " + dir + "/program failed"));
  // The CUDA driver, which the host provides, is left out.
  const std::string libc = "/lib/x86_64-linux-gnu/libc.so.6";
  if (fs::exists(libc)) {
    r = RunTool(fake_ldd("\tlibcuda.so.1 => not found\n\tlibc.so.6 => " + libc +
                         " (0x1)") +
                script + " " + dir + "/program");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.stdout_text, "libc6\n");
  }
}

TEST(ContainerScriptsTest, RuntimeSetupRejectsBadPackageLists) {
  // Only the paths that stop before installing anything: the rest installs
  // packages and adds a user, which only a container build may do.
  const std::string dir = MakeTempDir("setup");
  const std::string script = Script("container-runtime-setup.sh");
  ToolResult r = RunTool(script);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("usage:"));
  r = RunTool(script + " a b");
  EXPECT_EQ(r.exit_code, 2);
  r = RunTool(script + " " + dir + "/missing.txt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("cannot read the package list"));
  std::ofstream(dir + "/empty.txt") << "\n  \n";
  r = RunTool(script + " " + dir + "/empty.txt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("lists no package"));
}

// --- compose.yaml ------------------------------------------------------------

TEST(ComposeTest, ServicesFilesAndPortsAgree) {
  const std::string deploy = kRoot + "/deploy";
  const YAML::Node compose = YAML::LoadFile(deploy + "/compose.yaml");
  const YAML::Node services = compose["services"];
  ASSERT_TRUE(services.IsMap());
  // Headroom from the Dockerfile's cpu target.
  const YAML::Node build = services["headroom"]["build"];
  const fs::path context =
      fs::path(deploy) / build["context"].as<std::string>();
  EXPECT_TRUE(fs::equivalent(context, kRoot));
  EXPECT_TRUE(fs::exists(context / build["dockerfile"].as<std::string>()));
  EXPECT_THAT(DockerStageNames(Dockerfile()),
              Contains(build["target"].as<std::string>()));
  EXPECT_EQ(build["target"].as<std::string>(), "cpu");
  // Every bind mount's source exists (relative to compose.yaml).
  std::map<std::string, std::string> mounts;  // target -> source
  for (const auto& service : services) {
    for (const auto& volume : service.second["volumes"]) {
      const std::vector<std::string> parts =
          absl::StrSplit(volume.as<std::string>(), ':');
      ASSERT_GE(parts.size(), 2u) << volume.as<std::string>();
      if (!absl::StartsWith(parts[0], ".")) continue;  // a named volume
      EXPECT_TRUE(fs::exists(fs::path(deploy) / parts[0])) << parts[0];
      mounts[parts[1]] = parts[0];
    }
  }
  // Prometheus scrapes the headroom service on the config's metrics port.
  EXPECT_EQ(mounts["/etc/prometheus"], "./prometheus");
  const YAML::Node prometheus =
      YAML::LoadFile(deploy + "/prometheus/prometheus.yml");
  const YAML::Node container =
      YAML::LoadFile(deploy + "/config/container.yaml");
  const std::string metrics = container["metrics_listen"].as<std::string>();
  bool scraped = false;
  for (const auto& job : prometheus["scrape_configs"]) {
    for (const auto& sc : job["static_configs"]) {
      for (const auto& target : sc["targets"]) {
        scraped =
            scraped || target.as<std::string>() ==
                           "headroom" + metrics.substr(metrics.rfind(':'));
      }
    }
  }
  EXPECT_TRUE(scraped) << "prometheus.yml scrapes no headroom:PORT";
  // Grafana: the provisioning directory, the dashboard in the provider's
  // path, the data source at the prometheus service.
  EXPECT_EQ(mounts["/etc/grafana/provisioning"], "./grafana/provisioning");
  const YAML::Node provider = YAML::LoadFile(
      deploy + "/grafana/provisioning/dashboards/headroom.yml")["providers"][0];
  const std::string path = provider["options"]["path"].as<std::string>();
  EXPECT_EQ(mounts[path + "/headroom-dashboard.json"],
            "./grafana/headroom-dashboard.json");
  const YAML::Node source = YAML::LoadFile(
      deploy +
      "/grafana/provisioning/datasources/prometheus.yml")["datasources"][0];
  EXPECT_EQ(source["type"].as<std::string>(), "prometheus");
  EXPECT_TRUE(source["isDefault"].as<bool>());
  EXPECT_EQ(source["url"].as<std::string>(), "http://prometheus:9090");
  EXPECT_TRUE(services["prometheus"].IsMap());
  EXPECT_THAT(services["prometheus"]["ports"][0].as<std::string>(),
              HasSubstr(":9090:9090"));
}

// --- The Dockerfile parser --------------------------------------------------

TEST(DockerfileCheckTest, ParserJoinsContinuationsAndDropsComments) {
  auto parsed = ParseDockerfile(
      "# syntax=docker/dockerfile:1\nARG A=1\n\nFROM x:${A} AS one\n"
      "RUN a \\\n  # a comment inside\n  b \\\n\n  c\ncopy x y\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 4u);
  EXPECT_EQ((*parsed)[2].keyword, "RUN");
  EXPECT_EQ((*parsed)[2].args, "a b c");
  EXPECT_EQ((*parsed)[2].line, 5);
  EXPECT_EQ((*parsed)[3].keyword, "COPY");
  EXPECT_THAT(DockerStageNames(*parsed), ElementsAre("one"));
  auto stages = ParseDockerfile("FROM a\nFROM --platform=x b AS Two\n");
  ASSERT_TRUE(stages.ok()) << stages.status();
  EXPECT_THAT(DockerStageNames(*stages), ElementsAre("", "two"));
}

TEST(DockerfileCheckTest, ParserRejectsBadInput) {
  auto dangling = ParseDockerfile("FROM x\nRUN a \\\n");
  ASSERT_FALSE(dangling.ok());
  EXPECT_THAT(dangling.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(dangling.status().message(), HasSubstr("continuation"));
  auto bare = ParseDockerfile("FROM x\nWORKDIR\n");
  ASSERT_FALSE(bare.ok());
  EXPECT_THAT(bare.status().message(),
              HasSubstr("line 2: WORKDIR without arguments"));
}

}  // namespace
}  // namespace headroom::testing
