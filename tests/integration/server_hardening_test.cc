// headroom-server against hostile and careless input, end to end on the
// embedded model (models/headroom-tiny: runs without ../shared): lengths
// that overflow 32 bits, requests larger than the whole KV pool, prompts and
// Tokenize texts of megabytes, invalid requests that are also over a quota,
// bad listen addresses and config paths, and a drain whose deadline passes
// with streams still running.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <thread>

#include "headroom/v1/headroom.grpc.pb.h"
#include "runtime/util/sha256.h"
#include "tests/integration/server_process.h"
#include "tests/test_support.h"
#include "tests/tool_runner.h"

// GCC defines __SANITIZE_*__; clang answers __has_feature.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HEADROOM_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HEADROOM_UNDER_SANITIZER 1
#endif
#endif
#ifndef HEADROOM_UNDER_SANITIZER
#define HEADROOM_UNDER_SANITIZER 0
#endif

namespace headroom::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string TinyModel() {
  return std::string(HEADROOM_SOURCE_DIR) + "/models/headroom-tiny";
}

// headroom-tiny served with its shipped svd-a projections (4 KV heads of
// 16, 2 layers, fp32: 1 KiB of KV per token, 16 KiB per page) and a pool of
// 3 pages (48 tokens), smaller than the 128-token context.
std::string HardeningConfig() {
  const std::string model = TinyModel();
  std::string y = "model:\n  path: " + model +
                  "\ncompression:\n  method: svd-a\n  kv_heads: 4\n"
                  "  projections: " +
                  model +
                  "/projections-svd-a-kv4.safetensors\n  cache_dir: \"\"\n"
                  "engine:\n  kv_cache_memory_bytes: 49152\n"
                  "allow_anonymous: true\ntenants:\n";
  y += "  - name: slow-rate\n    api_key_sha256: " +
       runtime::Sha256Hex("key-tpm") + "\n    tokens_per_minute: 20\n";
  y += "  - name: half-share\n    api_key_sha256: " +
       runtime::Sha256Hex("key-kv") + "\n    kv_page_share: 0.5\n";
  return y;
}

// Peak and current resident memory of a process, in bytes (from
// /proc/PID/status: VmHWM and VmRSS, reported in kB).
struct Memory {
  int64_t peak = 0, resident = 0;
};
Memory ProcessMemory(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  Memory m;
  std::string key;
  int64_t kb = 0;
  while (in >> key) {
    if (key == "VmHWM:" && in >> kb) m.peak = kb * 1024;
    if (key == "VmRSS:" && in >> kb) m.resident = kb * 1024;
  }
  return m;
}

class ServerHardeningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = MakeTempDir("hardening");
    std::ofstream(dir + "/config.yaml") << HardeningConfig();
    server_ = std::make_unique<ServerProcess>();
    ASSERT_TRUE(
        server_->Start({"--config", dir + "/config.yaml", "--listen",
                        "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"},
                       dir + "/server.log"));
    ASSERT_TRUE(server_->WaitForLog("serving", 300)) << server_->Log();
    ASSERT_THAT(server_->Log(), HasSubstr("KV pool 3 pages of 16 tokens"));
    channel_ = grpc::CreateChannel(server_->grpc_address(),
                                   grpc::InsecureChannelCredentials());
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(60), 0) << server_->Log();
    }
    channel_.reset();
    server_.reset();
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Headroom::NewStub(channel_);
  }

  grpc::Status Generate(const v1::GenerateRequest& r, const std::string& key,
                        v1::GenerateResponse* out) {
    grpc::ClientContext ctx;
    if (!key.empty()) ctx.AddMetadata("authorization", "Bearer " + key);
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(60));
    return stub_->Generate(&ctx, r, out);
  }
  grpc::Status Tokenize(const std::string& text, const std::string& key) {
    grpc::ClientContext ctx;
    if (!key.empty()) ctx.AddMetadata("authorization", "Bearer " + key);
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(60));
    v1::TokenizeRequest r;
    r.set_text(text);
    v1::TokenizeResponse out;
    return stub_->Tokenize(&ctx, r, &out);
  }
  // Still serves a normal request.
  void ExpectStillServing() {
    v1::GenerateRequest r;
    r.set_prompt("Once upon a time");
    r.set_max_tokens(8);
    r.set_temperature(0);
    v1::GenerateResponse out;
    const grpc::Status s = Generate(r, "", &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_GT(out.usage().completion_tokens(), 0);
  }

  static std::unique_ptr<ServerProcess> server_;
  static std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Headroom::Stub> stub_;
};
std::unique_ptr<ServerProcess> ServerHardeningTest::server_;
std::shared_ptr<grpc::Channel> ServerHardeningTest::channel_;

TEST_F(ServerHardeningTest, MaxTokensAtInt32MaxIsInvalidArgument) {
  v1::GenerateRequest r;
  r.set_prompt("Once upon a time");
  r.set_max_tokens(INT_MAX);
  v1::GenerateResponse out;
  const grpc::Status s = Generate(r, "", &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("max_tokens"));
  // With a KV share: the reservation must not wrap negative and admit it.
  const grpc::Status shared = Generate(r, "key-kv", &out);
  EXPECT_EQ(shared.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(shared.error_message(), HasSubstr("max_tokens"));
  r.set_max_tokens(INT_MAX - 3);  // prompt + max_tokens wraps in 32 bits
  const grpc::Status wrapped = Generate(r, "key-kv", &out);
  EXPECT_EQ(wrapped.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(wrapped.error_message(), HasSubstr("max_tokens"));
  ExpectStillServing();
}

TEST_F(ServerHardeningTest, MorePagesThanThePoolIsRefusedUpFront) {
  v1::GenerateRequest r;
  r.set_prompt("Once upon a time");
  r.set_max_tokens(100);  // fits the 128-token context, not the 48-token pool
  v1::GenerateResponse out;
  const grpc::Status s = Generate(r, "", &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("KV pages"));
  EXPECT_THAT(s.error_message(), HasSubstr("the pool has 3"));
  ExpectStillServing();
}

TEST_F(ServerHardeningTest, InvalidAndOverQuotaIsInvalidArgument) {
  v1::GenerateRequest r;
  r.set_prompt("Once upon a time");
  r.set_max_tokens(40);  // 45 tokens: fits the pool, over slow-rate's 20
  v1::GenerateResponse out;
  const grpc::Status quota = Generate(r, "key-tpm", &out);
  EXPECT_EQ(quota.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(quota.error_message(), HasSubstr("tokens_per_minute"));
  r.set_temperature(-1);  // and now invalid too
  const grpc::Status both = Generate(r, "key-tpm", &out);
  EXPECT_EQ(both.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(both.error_message(), HasSubstr("temperature"));
}

TEST_F(ServerHardeningTest, TokenizeCountsAgainstTheRateLimit) {
  // 100 bytes cost up to 102 tokens: more than slow-rate's 20 a minute.
  const grpc::Status over = Tokenize(std::string(100, 'a'), "key-tpm");
  EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(over.error_message(), HasSubstr("tokens_per_minute"));
  EXPECT_TRUE(Tokenize("Hi", "key-tpm").ok());
}

TEST_F(ServerHardeningTest, MegabytePromptsAndTextsAreRefusedBeforeTokenizing) {
  const std::string huge(3900000, 'a');  // under gRPC's 4 MiB message limit
  v1::GenerateRequest r;
  r.set_prompt(huge);
  v1::GenerateResponse out;
  const grpc::Status s = Generate(r, "", &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("prompt: 3900000 bytes"));
  const grpc::Status t = Tokenize(huge, "");
  EXPECT_EQ(t.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(t.error_message(), HasSubstr("text: 3900000 bytes"));

  // Eight at once, twice: the server's peak memory grows by at most the
  // messages themselves (8 x 3.9 MB, a few copies each in gRPC), never by
  // tokenizer state (2 GB before the bound). 128 MiB is that bound.
  const Memory before = ProcessMemory(server_->pid());
  for (int round = 0; round < 2; ++round) {
    std::vector<std::thread> clients;
    std::atomic<int> refused{0};
    for (int i = 0; i < 8; ++i) {
      clients.emplace_back([&] {
        if (Tokenize(huge, "").error_code() ==
            grpc::StatusCode::INVALID_ARGUMENT) {
          ++refused;
        }
      });
    }
    for (auto& c : clients) c.join();
    EXPECT_EQ(refused.load(), 8);
  }
  const Memory after = ProcessMemory(server_->pid());
#if !HEADROOM_UNDER_SANITIZER
  // (Sanitizers keep freed memory in quarantine: no bound there.)
  EXPECT_LT(after.peak - before.resident, int64_t{128} << 20)
      << "peak " << after.peak << " bytes, resident before " << before.resident;
#endif
  ExpectStillServing();
}

TEST(ServerHardeningStartupTest, ListenPortOutOfRangeStopsWithOneLine) {
  const std::string dir = MakeTempDir("listen");
  for (const auto& [flag, address] :
       std::vector<std::pair<std::string, std::string>>{
           {"--listen", "127.0.0.1:99999"},
           {"--metrics-listen", "127.0.0.1:65536"},
           {"--listen", "127.0.0.1:http"},
           {"--listen", "::1:5000"}}) {
    ServerProcess p;
    ASSERT_TRUE(p.Start({"--model", TinyModel(), flag, address}, dir + "/log"));
    EXPECT_EQ(p.WaitExit(60), 2) << p.Log();
    const auto lines = NonEmptyLines(p.Log());
    ASSERT_EQ(lines.size(), 1u) << p.Log();
    EXPECT_THAT(lines[0], HasSubstr(address));
    EXPECT_THAT(lines[0], HasSubstr(flag.substr(2, 6)));  // "listen" / "metric"
  }
}

TEST(ServerHardeningStartupTest, ConfigNamingADirectoryStopsWithOneLine) {
  const std::string dir = MakeTempDir("config-dir");
  ServerProcess p;
  ASSERT_TRUE(p.Start({"--config", dir}, dir + "/../config-dir.log"));
  EXPECT_EQ(p.WaitExit(60), 2) << p.Log();
  const auto lines = NonEmptyLines(p.Log());
  ASSERT_EQ(lines.size(), 1u) << p.Log();
  EXPECT_THAT(lines[0], HasSubstr(dir + " is a directory"));
}

// --check-config: the config and flags parsed and checked, nothing loaded
// (the model path need not exist), "config OK" and 0; a bad one is the
// same one line and 2 as a start.
TEST(ServerHardeningStartupTest, CheckConfigParsesWithoutLoading) {
  const std::string dir = MakeTempDir("check-config");
  std::ofstream(dir + "/good.yaml")
      << "model:\n  path: /no/such/model\ncompression:\n  method: none\n"
         "listen: \"0.0.0.0:50051\"\n";
  std::ofstream(dir + "/bad.yaml")
      << "model:\n  path: /no/such/model\nengine:\n  block_sizes: 16\n";
  const std::string server = BinaryPath("server/headroom-server");
  ToolResult r =
      RunTool(server + " --check-config --config " + dir + "/good.yaml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "config OK\n");
  r = RunTool(server + " --check-config --config " + dir + "/bad.yaml");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("bad.yaml"));
  EXPECT_THAT(r.output, HasSubstr("block_sizes"));
  EXPECT_THAT(r.output, Not(HasSubstr("config OK")));
  // A flag's override is checked too.
  r = RunTool(server + " --check-config --config " + dir +
              "/good.yaml --kv-heads many");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--kv-heads: expected a number"));
  // The compression settings, from the file and from the flags.
  std::ofstream(dir + "/budget.yaml")
      << "model:\n  path: /no/such/model\ncompression:\n  method: auto\n"
         "  kv_budget: 0.5\n  regroup: true\n  holdback_tokens: 4096\n"
         "  calibration:\n    text: /no/such/text\n";
  r = RunTool(server + " --check-config --config " + dir + "/budget.yaml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "config OK\n");
  r = RunTool(server + " --check-config --config " + dir +
              "/budget.yaml --refit-tokens 0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("compression.refit_tokens: 0 must be > 0"));
  r = RunTool(server + " --check-config --config " + dir +
              "/budget.yaml --kv-heads 4");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("compression.kv_budget: 0.5 and kv_heads 4 "
                                  "are both given"));
  r = RunTool(server + " --check-config=yes");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--check-config takes no value"));
}

// A model slow enough (random weights, 6 layers of 384, a 1024-token
// context: a few ms per token on one thread) that 1,000 tokens outlast a
// 0.3 s drain deadline many times over.
std::string SlowModel(const std::string& dir) {
  const std::string path = dir + "/slow.bin";
  const ToolResult r =
      RunTool(BinaryPath("tools/headroom-make-synthetic") + " --out " + path +
              " --dim 384 --hidden 1024 --layers 6 --heads 6 --kv-heads 6"
              " --vocab 512 --seq-len 1024");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return path;
}

TEST(ServerHardeningLifecycleTest, DrainDeadlineEndsCallsAsCancelled) {
  const std::string dir = MakeTempDir("drain-deadline");
  ServerProcess p;
  ASSERT_TRUE(p.Start({"--model", SlowModel(dir), "--tokenizer",
                       TinyModel() + "/tokenizer.model", "--listen",
                       "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                       "--allow-anonymous", "--drain-deadline-seconds", "0.3"},
                      dir + "/log"));
  ASSERT_TRUE(p.WaitForLog("serving", 300)) << p.Log();
  auto channel =
      grpc::CreateChannel(p.grpc_address(), grpc::InsecureChannelCredentials());
  auto stub = v1::Headroom::NewStub(channel);
  v1::GenerateRequest r;
  r.set_prompt("Once");
  r.set_max_tokens(1000);
  r.set_ignore_eos(true);

  grpc::Status unary_status;
  v1::GenerateResponse unary;
  std::thread unary_client([&] {
    grpc::ClientContext ctx;
    unary_status = stub->Generate(&ctx, r, &unary);
  });
  grpc::ClientContext ctx;
  auto reader = stub->GenerateStream(&ctx, r);
  v1::GenerateStreamResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  // Both requests are running before the signal.
  for (int i = 0; i < 500; ++i) {
    const HttpResponse m = HttpGet(p.metrics_port(), "/metrics");
    if (MetricValue(m.body, "headroom:num_requests_running") >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(p.pid(), SIGTERM);
  int tokens = msg.token_ids_size();
  v1::FinishReason last = v1::FINISH_REASON_UNSPECIFIED;
  while (reader->Read(&msg)) {
    tokens += msg.token_ids_size();
    last = msg.finish_reason();
  }
  const grpc::Status stream_status = reader->Finish();
  unary_client.join();
  EXPECT_TRUE(stream_status.ok()) << stream_status.error_message();
  EXPECT_EQ(last, v1::CANCELLED);
  EXPECT_LT(tokens, 1000);
  EXPECT_TRUE(unary_status.ok()) << unary_status.error_message();
  EXPECT_EQ(unary.finish_reason(), v1::CANCELLED);
  EXPECT_LT(unary.usage().completion_tokens(), 1000);
  EXPECT_EQ(p.WaitExit(60), 0) << p.Log();
  EXPECT_THAT(p.Log(), HasSubstr("still running at the drain deadline"));
}

}  // namespace
}  // namespace headroom::testing
