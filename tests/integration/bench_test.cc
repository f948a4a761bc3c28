// headroom-bench end to end: the real headroom-server (the embedded
// headroom-tiny, uncompressed, a small engine: runs without ../shared) on
// free ports, the real headroom-bench against it, and the server's /metrics
// to check the bench's counts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "runtime/util/sha256.h"
#include "tests/integration/server_process.h"
#include "tests/test_support.h"
#include "tests/tool_runner.h"

namespace headroom::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kKey[] = "bench-key";

// The sum of every sample of `name` (any labels) in a /metrics text.
double SumSamples(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  double sum = 0;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != '{' && next != ' ') continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

class BenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = EmbeddedModelPath();
    dir_ = MakeTempDir("bench");
    const std::string config = dir_ + "/config.yaml";
    std::ofstream(config)
        << "model:\n  path: " << model_
        << "\ncompression:\n  method: none\n"
           "engine:\n  max_num_batched_tokens: 64\n  max_num_seqs: 8\n"
           "  kv_cache_memory_bytes: 1048576\n"
           "drain_deadline_seconds: 5\ntenants:\n  - name: bench\n"
           "    api_key_sha256: "
        << runtime::Sha256Hex(kKey) << "\n";
    std::ofstream(dir_ + "/prompts.txt")
        << "Once upon a time there was a little girl named Lily.\n\n"
           "The cat sat on the mat and looked at the big red ball.\n"
           "Tom wanted to play in the park with his friends.\n";
    ASSERT_TRUE(server_.Start(
        {"--config", config, "--listen", "127.0.0.1:0", "--metrics-listen",
         "127.0.0.1:0", "--http-listen", "127.0.0.1:0"},
        dir_ + "/server.log"));
    ASSERT_TRUE(server_.WaitForLog("serving", 300)) << server_.Log();
  }

  void TearDown() override {
    if (server_.pid() > 0) {
      EXPECT_EQ(server_.Stop(60), 0) << server_.Log();
    }
  }

  std::string Metrics() {
    HttpResponse r = HttpGet(server_.metrics_port(), "/metrics");
    EXPECT_EQ(r.status, 200);
    return r.body;
  }

  std::string Bench(const std::string& flags) {
    return BinaryPath("bench/headroom-bench") + " --addr " +
           server_.grpc_address() + " --prompts-file " + dir_ +
           "/prompts.txt " + flags;
  }

  std::string model_, dir_;
  ServerProcess server_;
};

TEST_F(BenchTest, CountsMatchTheServersMetrics) {
  const std::string before = Metrics();
  const double success_before =
      SumSamples(before, "headroom:request_success_total");
  const double tokens_before =
      SumSamples(before, "headroom:generation_tokens_total");
  const double prompt_before =
      SumSamples(before, "headroom:prompt_tokens_total");

  const std::string json_path = dir_ + "/bench.json";
  const ToolResult run = RunTool(
      Bench(std::string("--api-key ") + kKey +
            " --concurrency 4 --num-requests 12 --max-tokens-range 4:16"
            " --prompt-words 2:8 --temperature 0.8 --seed 3 --slo-ttft-ms 60000"
            " --slo-tpot-ms 60000 --json " +
            json_path));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.stdout_text, HasSubstr("Requests completed:"));
  EXPECT_THAT(run.stdout_text, HasSubstr("TTFT"));
  EXPECT_THAT(run.stdout_text, HasSubstr("Goodput"));
  // stderr is not a terminal and --progress was not given: no bar.
  EXPECT_THAT(run.output, ::testing::Not(HasSubstr("in flight")));

  const nlohmann::json j = ReadJsonFile(json_path);
  EXPECT_EQ(j["requests_completed"], 12);
  EXPECT_EQ(j["requests_failed"], 0);
  EXPECT_EQ(j["status_counts"]["OK"], 12);
  EXPECT_EQ(j["good_requests"], 12);
  ASSERT_EQ(j["requests"].size(), 12u);
  for (const nlohmann::json& r : j["requests"]) {
    EXPECT_GE(r["output_tokens"].get<int>(), 1);
    EXPECT_LE(r["output_tokens"].get<int>(), 16);
    EXPECT_GT(r["ttft_ms"].get<double>(), 0);
    EXPECT_GE(r["e2e_ms"].get<double>(), r["ttft_ms"].get<double>());
  }
  EXPECT_GT(j["ttft"]["p99_ms"].get<double>(), 0);
  EXPECT_GT(j["output_token_throughput"].get<double>(), 0);

  const std::string after = Metrics();
  EXPECT_EQ(
      j["requests_completed"].get<double>(),
      SumSamples(after, "headroom:request_success_total") - success_before);
  EXPECT_EQ(
      j["generation_tokens_total"].get<double>(),
      SumSamples(after, "headroom:generation_tokens_total") - tokens_before);
  EXPECT_EQ(j["prompt_tokens_total"].get<double>(),
            SumSamples(after, "headroom:prompt_tokens_total") - prompt_before);
  EXPECT_GT(j["generation_tokens_total"].get<double>(), 12);
}

TEST_F(BenchTest, OpenLoopAndFailuresByStatusCode) {
  // A wrong key: every request fails UNAUTHENTICATED, counted as such.
  const std::string json_path = dir_ + "/bad.json";
  const ToolResult bad =
      RunTool(Bench("--api-key wrong --request-rate 200 --arrival gamma "
                    "--burstiness 0.5 --num-requests 4 --max-tokens 4 --json " +
                    json_path));
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("UNAUTHENTICATED"));
  const nlohmann::json j = ReadJsonFile(json_path);
  EXPECT_EQ(j["requests_completed"], 0);
  EXPECT_EQ(j["requests_failed"], 4);
  EXPECT_EQ(j["status_counts"]["UNAUTHENTICATED"], 4);

  // Open loop, Poisson arrivals, with the progress bar forced on.
  const ToolResult good =
      RunTool(Bench(std::string("--api-key ") + kKey +
                    " --request-rate 50 --num-requests 6 --max-tokens 4 "
                    "--ignore-eos --progress --json " +
                    dir_ + "/good.json"));
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_THAT(good.output, HasSubstr("6/6 done, 0 failed"));
  const nlohmann::json g = ReadJsonFile(dir_ + "/good.json");
  EXPECT_EQ(g["requests_completed"], 6);
  EXPECT_EQ(g["generation_tokens_total"], 24);  // --ignore-eos: 4 each
  EXPECT_EQ(g["settings"]["arrival"], "poisson");
}

TEST_F(BenchTest, OpenAiFrontEndGivesTheSameCounts) {
  const std::regex re("openai listening on http://([0-9.]+:[0-9]+)");
  std::smatch m;
  const std::string log = server_.Log();
  ASSERT_TRUE(std::regex_search(log, m, re)) << log;
  const std::string addr = m[1];
  const std::string before = Metrics();
  const ToolResult r = RunTool(
      BinaryPath("bench/headroom-bench") + " --api openai --addr " + addr +
      " --prompts-file " + dir_ + "/prompts.txt --api-key " + kKey +
      " --concurrency 3 --num-requests 6 --max-tokens 5 --ignore-eos --json " +
      dir_ + "/openai.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(openai)"));
  const nlohmann::json j = ReadJsonFile(dir_ + "/openai.json");
  EXPECT_EQ(j["requests_completed"], 6);
  EXPECT_EQ(j["generation_tokens_total"], 30);
  EXPECT_EQ(j["settings"]["api"], "openai");
  const std::string after = Metrics();
  EXPECT_EQ(SumSamples(after, "headroom:api_generation_tokens_total") -
                SumSamples(before, "headroom:api_generation_tokens_total"),
            30);
  EXPECT_THAT(after, HasSubstr("headroom:api_requests_total{api=\"openai\","
                               "tenant=\"bench\"} 6"));
  // A wrong key: HTTP 401 for each.
  const ToolResult bad = RunTool(
      BinaryPath("bench/headroom-bench") + " --api openai --addr " + addr +
      " --prompts-file " + dir_ + "/prompts.txt --api-key wrong" +
      " --concurrency 1 --num-requests 2 --max-tokens 2");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
}

TEST(BenchFlagsTest, BadFlagsExitTwo) {
  const std::string bench = BinaryPath("bench/headroom-bench");
  EXPECT_EQ(RunTool(bench + " --prompts-file /dev/null").exit_code, 2);
  EXPECT_EQ(RunTool(bench + " --concurrency 2 --request-rate 3 "
                            "--prompts-file x")
                .exit_code,
            2);
  EXPECT_EQ(RunTool(bench + " --concurrency 2").exit_code, 2);
}

}  // namespace
}  // namespace headroom::testing
