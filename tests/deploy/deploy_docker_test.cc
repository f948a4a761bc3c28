// The Dockerfile, .dockerignore, the container scripts and compose.yaml,
// checked without a Docker engine (none runs on this machine): every COPY
// source and every repository file a command names exists, is copied into
// its stage and is not excluded by .dockerignore; every --from names an
// earlier stage; the build stages install what scripts/setup-deps.sh lists
// for the build, copy every directory CMakeLists.txt builds, and pass only
// CMake options that exist; the runtime stages agree with the container
// config; compose's files, services and ports agree with each other. Each
// checker also gets a bad input, so it can fail.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

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
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

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

// The repository's files as git sees them (tracked, and untracked ones not
// ignored): those a COPY of a directory sends in the build context.
std::vector<std::string> ContextFiles() {
  const ToolResult r = RunTool(
      "git -C " + kRoot + " ls-files --cached --others --exclude-standard");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> files =
      absl::StrSplit(r.stdout_text, '\n', absl::SkipEmpty());
  EXPECT_GT(files.size(), 50u);
  return files;
}

TEST(DockerfileTest, CopiesAndReferencesExistAndAreNotIgnored) {
  const auto instructions = Dockerfile();
  ASSERT_FALSE(instructions.empty());
  auto ignore =
      DockerignoreMatcher::Parse(ReadTextFile(kRoot + "/.dockerignore"));
  ASSERT_TRUE(ignore.ok()) << ignore.status();
  DockerfileInputs inputs;
  inputs.context_dir = kRoot;
  inputs.context_files = ContextFiles();
  inputs.dockerignore = &*ignore;
  EXPECT_THAT(DockerfileProblems(instructions, inputs), IsEmpty());
  // What .dockerignore must keep out of the context.
  for (const char* p :
       {".git", "build", "build/release/x.o", "build-srv", ".cache/headroom",
        "tests/unit/x.cc", "runtime/__pycache__/a.pyc"}) {
    EXPECT_TRUE(ignore->Excluded(p)) << p;
  }
}

TEST(DockerfileTest, HasCudaAndCpuTargetsOnTheDocumentedImages) {
  const auto instructions = Dockerfile();
  EXPECT_THAT(DockerStageNames(instructions),
              ElementsAre("build-cuda", "cuda", "build-cpu", "cpu"));
  auto stages = Stages(instructions);
  EXPECT_EQ(stages["build-cuda"][0].args,
            "nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION} AS "
            "build-cuda");
  EXPECT_EQ(stages["cuda"][0].args,
            "nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION} AS "
            "cuda");
  EXPECT_EQ(stages["build-cpu"][0].args, "debian:12 AS build-cpu");
  EXPECT_EQ(stages["cpu"][0].args, "debian:12-slim AS cpu");
  // nvidia/cuda:13.0.0-devel-ubuntu24.04 and -runtime-.
  EXPECT_EQ(*DockerGlobalArg(instructions, "CUDA_VERSION"), "13.0.0");
  EXPECT_EQ(*DockerGlobalArg(instructions, "UBUNTU_VERSION"), "24.04");
  EXPECT_THAT(Args(stages["build-cuda"], "RUN"),
              Contains(HasSubstr("container-build.sh ON ")));
  EXPECT_THAT(Args(stages["build-cpu"], "RUN"),
              Contains(HasSubstr("container-build.sh OFF ")));
}

TEST(DockerfileTest, RuntimeStagesAgreeWithTheContainerConfig) {
  const YAML::Node config =
      YAML::LoadFile(kRoot + "/deploy/config/container.yaml");
  const std::string grpc_port = config["listen"].as<std::string>().substr(
      config["listen"].as<std::string>().rfind(':') + 1);
  const std::string metrics_port =
      config["metrics_listen"].as<std::string>().substr(
          config["metrics_listen"].as<std::string>().rfind(':') + 1);
  const std::string http_port =
      config["http"]["listen"].as<std::string>().substr(
          config["http"]["listen"].as<std::string>().rfind(':') + 1);
  EXPECT_EQ(config["http"]["listen"].as<std::string>(), "0.0.0.0:" + http_port);
  EXPECT_EQ(config["listen"].as<std::string>(), "0.0.0.0:" + grpc_port);
  EXPECT_EQ(config["metrics_listen"].as<std::string>(),
            "0.0.0.0:" + metrics_port);
  auto stages = Stages(Dockerfile());
  const std::map<std::string, std::string> configs = {
      {"cuda", "deploy/config/container-cuda.yaml"},
      {"cpu", "deploy/config/container.yaml"}};
  for (const auto& [name, config_file] : configs) {
    SCOPED_TRACE(name);
    const auto& stage = stages[name];
    EXPECT_THAT(Args(stage, "COPY"),
                Contains(config_file + " /etc/headroom/config.yaml"));
    // The config's model and projections are in the image.
    EXPECT_THAT(Args(stage, "COPY"),
                Contains("models/headroom-tiny "
                         "/opt/headroom/models/headroom-tiny"));
    EXPECT_EQ(config["model"]["path"].as<std::string>(),
              "/opt/headroom/models/headroom-tiny");
    EXPECT_THAT(Args(stage, "EXPOSE"),
                ElementsAre(grpc_port + " " + http_port + " " + metrics_port));
    EXPECT_THAT(Args(stage, "VOLUME"), ElementsAre("/models"));
    const auto user = Args(stage, "USER");
    ASSERT_EQ(user.size(), 1u);
    EXPECT_NE(user[0].substr(0, user[0].find(':')), "0");
    EXPECT_NE(user[0].substr(0, user[0].find(':')), "root");
    EXPECT_THAT(Args(stage, "ENTRYPOINT"),
                ElementsAre("[\"headroom-server\", \"--config\", "
                            "\"/etc/headroom/config.yaml\"]"));
    const auto health = Args(stage, "HEALTHCHECK");
    ASSERT_EQ(health.size(), 1u);
    EXPECT_THAT(health[0], HasSubstr("\"headroom-client\", \"health\", "
                                     "\"--addr\", \"127.0.0.1:" +
                                     grpc_port + "\""));
  }
}

// Packages of scripts/setup-deps.sh that the build does not need: compilers
// and libraries of the tests, benchmarks and sanitizers, and tools of the
// tests and scripts.
const std::set<std::string> kTestOnlyPackages = {"git",
                                                 "python3",
                                                 "curl",
                                                 "clang",
                                                 "libclang-rt-14-dev",
                                                 "libgtest-dev",
                                                 "libgmock-dev",
                                                 "libbenchmark-dev",
                                                 "prometheus",
                                                 "yamllint",
                                                 "python3-yaml",
                                                 "python3-jsonschema"};

TEST(DockerfileTest, BuildStagesInstallWhatSetupDepsListsForTheBuild) {
  auto deps = SetupDepsPackages(ReadTextFile(kRoot + "/scripts/setup-deps.sh"));
  ASSERT_TRUE(deps.ok()) << deps.status();
  const auto instructions = Dockerfile();
  auto build = DockerGlobalArg(instructions, "BUILD_PACKAGES");
  ASSERT_TRUE(build.ok()) << build.status();
  const std::vector<std::string> tokens =
      absl::StrSplit(*build, absl::ByAnyChar(" \t\\"), absl::SkipEmpty());
  const std::set<std::string> installed(tokens.begin(), tokens.end());
  for (const std::string& p : *deps) {
    if (kTestOnlyPackages.count(p) > 0) continue;
    EXPECT_EQ(installed.count(p), 1u)
        << p << " (scripts/setup-deps.sh) is missing from BUILD_PACKAGES";
  }
  for (const std::string& p : installed) {
    EXPECT_THAT(*deps, Contains(p))
        << p << " is installed by the Dockerfile but not setup-deps.sh";
  }
  // Both build stages install the list.
  auto stages = Stages(instructions);
  for (const char* stage : {"build-cuda", "build-cpu"}) {
    EXPECT_THAT(Args(stages[stage], "ARG"), Contains("BUILD_PACKAGES"));
    EXPECT_THAT(Args(stages[stage], "RUN"),
                Contains(HasSubstr("${BUILD_PACKAGES}")));
  }
}

TEST(DockerfileTest, BuildStagesCopyEveryDirectoryCMakeBuilds) {
  const std::vector<std::string> dirs =
      CMakeSubdirectories(ReadTextFile(kRoot + "/CMakeLists.txt"));
  ASSERT_THAT(dirs, Contains("runtime"));
  auto stages = Stages(Dockerfile());
  for (const char* stage : {"build-cuda", "build-cpu"}) {
    SCOPED_TRACE(stage);
    const auto copies = Args(stages[stage], "COPY");
    EXPECT_THAT(copies, Contains("CMakeLists.txt ./"));
    for (const std::string& dir : dirs) {
      // Tests and benchmarks are off in the image (HEADROOM_BUILD_TESTS,
      // HEADROOM_BUILD_BENCH).
      if (dir == "tests" || dir == "bench") continue;
      EXPECT_THAT(copies, Contains(dir + " " + dir));
    }
  }
}

TEST(DockerfileTest, BuildScriptPassesExistingCMakeOptions) {
  const std::string script =
      ReadTextFile(kRoot + "/scripts/container-build.sh");
  const std::set<std::string> options =
      CMakeCacheVariables(ReadTextFile(kRoot + "/CMakeLists.txt"));
  ASSERT_THAT(options, Contains("HEADROOM_BUILD_TESTS"));
  ASSERT_THAT(options, Contains("HEADROOM_BUILD_BENCH"));
  std::set<std::string> passed;
  const std::regex flag(R"(-D(HEADROOM_[A-Z_]+)=)");
  for (auto it = std::sregex_iterator(script.begin(), script.end(), flag);
       it != std::sregex_iterator(); ++it) {
    passed.insert((*it)[1].str());
  }
  EXPECT_THAT(passed,
              UnorderedElementsAre("HEADROOM_CUDA", "HEADROOM_BUILD_TESTS",
                                   "HEADROOM_BUILD_BENCH"));
  for (const std::string& name : passed) {
    EXPECT_THAT(options, Contains(name));
  }
  EXPECT_THAT(script, HasSubstr("-DCMAKE_BUILD_TYPE=Release"));
  EXPECT_THAT(script, HasSubstr("-DHEADROOM_BUILD_TESTS=OFF"));
  EXPECT_THAT(script, HasSubstr("-DHEADROOM_BUILD_BENCH=OFF"));
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

// --- The checkers themselves -------------------------------------------------

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
  EXPECT_EQ(*DockerGlobalArg(*parsed, "A"), "1");
  EXPECT_FALSE(DockerGlobalArg(*parsed, "B").ok());
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

TEST(DockerfileCheckTest, ReportsEveryKindOfProblem) {
  const std::string dir = MakeTempDir("context");
  fs::create_directories(dir + "/scripts");
  fs::create_directories(dir + "/src/secret");
  std::ofstream(dir + "/scripts/build.sh") << "bash scripts/helper.sh\n";
  std::ofstream(dir + "/scripts/helper.sh") << "true\n";
  std::ofstream(dir + "/scripts/other.sh") << "true\n";
  std::ofstream(dir + "/src/a.cc") << "";
  std::ofstream(dir + "/src/secret/key") << "";
  std::ofstream(dir + "/ignored.txt") << "";
  auto ignore = DockerignoreMatcher::Parse("ignored.txt\nsrc/secret\n");
  ASSERT_TRUE(ignore.ok());
  DockerfileInputs inputs;
  inputs.context_dir = dir;
  inputs.context_files = {"scripts/build.sh", "scripts/helper.sh",
                          "scripts/other.sh", "src/a.cc",
                          "src/secret/key",   "ignored.txt"};
  inputs.dockerignore = &*ignore;
  auto parsed = ParseDockerfile(
      "RUN too early\n"
      "FROM base:${UNDECLARED} AS one\n"
      "COPY missing.txt /x\n"
      "COPY ignored.txt /x\n"
      "COPY src /src\n"
      "COPY *.nothing /x\n"
      "COPY onlyone\n"
      "COPY ../outside /x\n"
      "COPY scripts/build.sh /b\n"
      "RUN bash scripts/build.sh && bash scripts/other.sh\n"
      "RUN cat deploy/nothing.yaml\n"
      "FROM debian AS two\n"
      "COPY --from=nope /a /b\n"
      "COPY --from=three /a /b\n"
      "COPY --from=two /a /b\n"
      "COPY --from=5 /a /b\n"
      "COPY --from=0 /a /b\n"
      "COPY --from=docker.io/library/busybox:1 /bin/sh /sh\n"
      "RUN --mount=type=bind,from=ghost,target=/g true\n"
      "FROM debian AS one\n"
      "FROM two AS three\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(
      DockerfileProblems(*parsed, inputs),
      ElementsAre(
          "Dockerfile:1: RUN: comes before the first FROM",
          "Dockerfile:2: FROM: ${UNDECLARED} is not an ARG declared before "
          "the first FROM",
          "Dockerfile:3: COPY: missing.txt does not exist in the build context",
          "Dockerfile:4: COPY: ignored.txt is excluded by .dockerignore",
          "Dockerfile:5: COPY: src/secret/key (under src) is excluded by "
          ".dockerignore",
          "Dockerfile:6: COPY: *.nothing matches no file of the build context",
          "Dockerfile:7: COPY: needs a source and a destination",
          "Dockerfile:8: COPY: ../outside leaves the build context",
          "Dockerfile:10: RUN: scripts/helper.sh is not copied into this "
          "stage before (a script of the stage uses it)",
          "Dockerfile:10: RUN: scripts/other.sh is not copied into this stage "
          "before",
          "Dockerfile:11: RUN: deploy/nothing.yaml does not exist in the "
          "repository",
          "Dockerfile:13: COPY: --from=nope names no stage defined before",
          "Dockerfile:14: COPY: --from=three names no stage defined before",
          "Dockerfile:15: COPY: --from=two is this stage, not an earlier one",
          "Dockerfile:16: COPY: --from=5: no earlier stage 5",
          "Dockerfile:19: RUN: --from=ghost names no stage defined before",
          "Dockerfile:20: FROM: stage one is defined twice"));
}

TEST(DockerignoreTest, MatchesAsDockerDoes) {
  auto m = DockerignoreMatcher::Parse(
      "# comment\n/build*\n**/*.swp\ndocs/\n*.md\n!README.md\n"
      "models/*/big?.bin\ndata/[a-c]*\n");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->Excluded("build"));
  EXPECT_TRUE(m->Excluded("build-srv/server/x"));  // a parent matches
  EXPECT_FALSE(m->Excluded("scripts/build.sh"));   // patterns are rooted
  EXPECT_TRUE(m->Excluded("a/b/c.swp"));           // ** spans directories
  EXPECT_TRUE(m->Excluded("top.swp"));             // ... or none
  EXPECT_TRUE(m->Excluded("docs/x/y.txt"));
  EXPECT_TRUE(m->Excluded("NOTES.md"));
  EXPECT_FALSE(m->Excluded("README.md"));     // re-included
  EXPECT_FALSE(m->Excluded("sub/NOTES.md"));  // * stays in a segment
  EXPECT_TRUE(m->Excluded("models/tiny/big1.bin"));
  EXPECT_FALSE(m->Excluded("models/tiny/big10.bin"));
  EXPECT_TRUE(m->Excluded("data/b1"));
  EXPECT_FALSE(m->Excluded("data/d1"));
  EXPECT_FALSE(m->Excluded("runtime/model.cc"));
}

TEST(DockerignoreTest, RejectsAnUnterminatedClass) {
  auto m = DockerignoreMatcher::Parse("ok\nbad[ab\n");
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("\"bad[ab\": unterminated '['"));
}

TEST(BuildFilesCheckTest, ReadsSetupDepsAndCMake) {
  auto packages = SetupDepsPackages(
      "x=1\npackages=(\n  a b  # the first two\n  c\n)\nmore=(d)\n");
  ASSERT_TRUE(packages.ok()) << packages.status();
  EXPECT_THAT(*packages, ElementsAre("a", "b", "c"));
  EXPECT_FALSE(SetupDepsPackages("apt-get install a b\n").ok());
  EXPECT_FALSE(SetupDepsPackages("packages=(\n  # none\n)\n").ok());
  const std::string cmake =
      "option(A_ON \"doc\" ON)\nset(B_STR \"\" CACHE STRING \"doc\")\n"
      "set(NOT_CACHE 1)\n# option(COMMENTED \"\" OFF)\n"
      "add_subdirectory(one)\nif(X)\n  add_subdirectory( two )\nendif()\n";
  EXPECT_THAT(CMakeCacheVariables(cmake), ElementsAre("A_ON", "B_STR"));
  EXPECT_THAT(CMakeSubdirectories(cmake), ElementsAre("one", "two"));
}

}  // namespace
}  // namespace headroom::testing
