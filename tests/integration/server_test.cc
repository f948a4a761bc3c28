// headroom-server end to end: the real binary on 127.0.0.1 with free ports,
// real gRPC stubs, /metrics over HTTP. One server (the embedded
// headroom-tiny, 8 KV heads, compressed on start-up with SVD-a to 4 KV heads
// calibrated on the tests/data text; a small saturated engine) is shared by
// the tests of ServerTest; start-up failures and readiness get their own.
// Everything runs without ../shared. headroom-tiny's context is 128 tokens:
// long requests ask for 100 tokens, which the context holds.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "headroom/v1/headroom.grpc.pb.h"
#include "runtime/backend_factory.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/util/sha256.h"
#include "server/engine/engine.h"
#include "tests/integration/server_process.h"
#include "tests/promql_metrics.h"
#include "tests/raw_http.h"
#include "tests/test_support.h"
#include "tests/tool_runner.h"
#include "tools/model_bundle.h"

namespace headroom::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

const char* const kTenants[] = {"t1", "t2", "t4"};

std::string ModelPath() { return EmbeddedModelPath(); }

std::string KeyDigest(const std::string& key) {
  return runtime::Sha256Hex(key);
}

// The shared server's config: three fair-share tenants (weights 1:2:4), one
// per quota, a small engine (8 sequences per step) so 48 streams saturate it.
std::string ConfigYaml(const std::string& model, const std::string& text,
                       const std::string& cache) {
  std::string y =
      "model:\n  path: " + model +
      "\ncompression:\n  method: svd-a\n  kv_heads: 4\n"
      "  calibration:\n    text: " +
      text + "\n    lines: \"" + std::to_string(kEmbeddedCalibFirst) + ":" +
      std::to_string(kEmbeddedCalibLast) + "\"\n  cache_dir: " + cache +
      "\nengine:\n  max_num_batched_tokens: 64\n"
      "  max_num_seqs: 8\n  kv_cache_memory_bytes: 4194304\n"
      "drain_deadline_seconds: 5\ntenants:\n";
  const double weights[] = {1, 2, 4};
  for (int i = 0; i < 3; ++i) {
    y += "  - name: " + std::string(kTenants[i]) + "\n    api_key_sha256: " +
         KeyDigest(std::string("key-") + kTenants[i]) +
         "\n    weight: " + std::to_string(weights[i]) + "\n";
  }
  y += "  - name: slow-rate\n    api_key_sha256: " + KeyDigest("key-tpm") +
       "\n    tokens_per_minute: 50\n";
  y += "  - name: small-share\n    api_key_sha256: " + KeyDigest("key-kv") +
       "\n    kv_page_share: 0.01\n";
  return y;
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string model = ModelPath(), text = EmbeddedTextPath();
    const std::string dir =
        std::filesystem::temp_directory_path() /
        ("headroom_server_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    // Projections are cached in the build tree: later runs skip calibration.
    const std::string cache = ProjectionsCacheDir();
    const std::string config = dir + "/config.yaml";
    std::ofstream(config) << ConfigYaml(model, text, cache);
    server_ = std::make_unique<ServerProcess>();  // one per suite
    ASSERT_TRUE(server_->Start({"--config", config, "--listen", "127.0.0.1:0",
                                "--metrics-listen", "127.0.0.1:0"},
                               dir + "/server.log"));
    ASSERT_TRUE(server_->WaitForLog("serving", 600)) << server_->Log();
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
    ASSERT_NE(server_, nullptr) << "the shared server did not start";
    stub_ = v1::Headroom::NewStub(channel_);
  }

  // A directory of its own: test-projections-cache, from when this server
  // ran stories260K, may hold other models' files.
  static std::string ProjectionsCacheDir() {
    return std::string(HEADROOM_BINARY_DIR) + "/test-projections-cache-tiny";
  }

  static void Authorize(grpc::ClientContext* ctx, const std::string& key) {
    ctx->AddMetadata("authorization", "Bearer " + key);
  }

  std::string Metrics() {
    HttpResponse r = HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_EQ(r.status, 200);
    return r.body;
  }

  // Waits (bounded) until every KV page is free again; the engine frees a
  // cancelled request's pages at its next step.
  void ExpectAllPagesFree() {
    double free = -1, total = -2;
    for (int i = 0; i < 500; ++i) {
      const std::string m = Metrics();
      free = MetricValue(m, "headroom:kv_cache_free_blocks");
      total = MetricValue(m, "headroom:kv_cache_total_blocks");
      if (free == total) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(free, total) << "KV pages leaked";
  }

  v1::GenerateRequest Request(const std::string& prompt, int max_tokens) {
    v1::GenerateRequest r;
    r.set_prompt(prompt);
    r.set_max_tokens(max_tokens);
    return r;
  }

  static std::unique_ptr<ServerProcess> server_;
  static std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Headroom::Stub> stub_;
};

std::unique_ptr<ServerProcess> ServerTest::server_;
std::shared_ptr<grpc::Channel> ServerTest::channel_;

TEST_F(ServerTest, HealthServingAndModelInfoShowsCompression) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext hctx;
  grpc::health::v1::HealthCheckResponse hr;
  ASSERT_TRUE(health->Check(&hctx, {}, &hr).ok());
  EXPECT_EQ(hr.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(HttpGet(server_->metrics_port(), "/readyz").status, 200);
  EXPECT_EQ(HttpGet(server_->metrics_port(), "/healthz").status, 200);

  grpc::ClientContext ctx;
  Authorize(&ctx, "key-t1");
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&ctx, {}, &info).ok());
  EXPECT_EQ(info.compression_method(), "svd-a");
  ASSERT_EQ(info.layers_size(), info.n_layers());
  for (const v1::LayerInfo& l : info.layers()) {
    EXPECT_EQ(l.kv_heads_original(), 8);
    EXPECT_EQ(l.kv_heads_served(), 4);
    EXPECT_GT(l.key_energy_kept(), 0.5);
  }
  EXPECT_EQ(info.kv_bytes_per_token_original(),
            2 * info.kv_bytes_per_token_served());
  // Twice the tokens in the same memory, up to the rounding to whole pages.
  EXPECT_GE(info.pool_capacity_tokens_served(),
            2 * info.pool_capacity_tokens_original());
  EXPECT_LE(info.pool_capacity_tokens_served(),
            2 * info.pool_capacity_tokens_original() + 2 * info.block_size());
  EXPECT_EQ(info.context_length(), 128);
}

TEST_F(ServerTest, UnaryAndStreamGiveTheSameTextForTheSameSeed) {
  v1::GenerateRequest r = Request("Once upon a time", 24);
  r.set_seed(7);
  r.set_temperature(0.8f);
  r.set_logprobs(2);
  grpc::ClientContext uctx;
  Authorize(&uctx, "key-t2");
  v1::GenerateResponse unary;
  ASSERT_TRUE(stub_->Generate(&uctx, r, &unary).ok());
  EXPECT_FALSE(unary.text().empty());
  EXPECT_EQ(unary.logprobs_size(), unary.token_ids_size());

  grpc::ClientContext sctx;
  Authorize(&sctx, "key-t2");
  auto reader = stub_->GenerateStream(&sctx, r);
  v1::GenerateStreamResponse msg;
  std::string text;
  std::vector<int> ids;
  v1::FinishReason reason = v1::FINISH_REASON_UNSPECIFIED;
  int messages = 0;
  while (reader->Read(&msg)) {
    ++messages;
    text += msg.text();
    ids.insert(ids.end(), msg.token_ids().begin(), msg.token_ids().end());
    if (msg.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      reason = msg.finish_reason();
      EXPECT_EQ(msg.usage().completion_tokens(), unary.token_ids_size());
      EXPECT_EQ(msg.usage().prompt_tokens(), unary.usage().prompt_tokens());
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_GT(messages, 1);
  EXPECT_EQ(text, unary.text());  // the deltas concatenate to the text
  EXPECT_EQ(ids, std::vector<int>(unary.token_ids().begin(),
                                  unary.token_ids().end()));
  EXPECT_EQ(reason, unary.finish_reason());

  // Tokenize agrees with the usage's prompt count (BOS included).
  grpc::ClientContext tctx;
  Authorize(&tctx, "key-t2");
  v1::TokenizeRequest treq;
  treq.set_text("Once upon a time");
  treq.set_add_bos(true);
  v1::TokenizeResponse tok;
  ASSERT_TRUE(stub_->Tokenize(&tctx, treq, &tok).ok());
  EXPECT_EQ(tok.token_ids_size(), unary.usage().prompt_tokens());
}

// The server returns what the engine computes in-process for the same model,
// projections (the server's own cached file) and seed.
TEST_F(ServerTest, ServedTextEqualsTheInProcessEngine) {
  v1::GenerateRequest r = Request("Once upon a time", 24);
  r.set_seed(11);
  r.set_temperature(0.7f);
  grpc::ClientContext ctx;
  Authorize(&ctx, "key-t1");
  v1::GenerateResponse served;
  ASSERT_TRUE(stub_->Generate(&ctx, r, &served).ok());

  // The file the server says it used (computed and cached, or from cache).
  std::smatch m;
  const std::string log = server_->Log();
  ASSERT_TRUE(std::regex_search(
      log, m, std::regex("projections (cached at|from cache) (\\S+)")))
      << log;
  const std::string projections = m[2].str();
  ASSERT_EQ(std::filesystem::path(projections).parent_path(),
            std::filesystem::path(ProjectionsCacheDir()))
      << "the server caches its projections";
  auto bundle = tools::LoadCompressedModelBundle(ModelPath(), "", projections);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  auto backend = runtime::CreateCpuBackend(std::move(bundle->weights), {});
  ASSERT_TRUE(backend.ok());
  auto engine = server::Engine::Create(
      std::move(*backend),
      std::shared_ptr<const runtime::Tokenizer>(std::move(bundle->tokenizer)),
      {});
  ASSERT_TRUE(engine.ok());
  server::GenerateRequest local;
  local.prompt = "Once upon a time";
  local.max_tokens = 24;
  local.sampling.seed = 11;
  local.sampling.temperature = 0.7f;
  std::string text;
  ASSERT_TRUE(
      (*engine)
          ->Submit(local,
                   [&text](const server::EngineEvent& e) { text += e.text; })
          .ok());
  while ((*engine)->HasWork()) ASSERT_TRUE((*engine)->Step().ok());
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(served.text(), text);
}

TEST_F(ServerTest, CancelMidStreamAndPassedDeadlineFreePages) {
  // A stream that keeps running beside the cancelled ones.
  grpc::ClientContext other_ctx;
  Authorize(&other_ctx, "key-t4");
  v1::GenerateRequest long_request = Request("Tom and Sue", 100);
  long_request.set_ignore_eos(true);
  auto other = stub_->GenerateStream(&other_ctx, long_request);

  grpc::ClientContext ctx;
  Authorize(&ctx, "key-t1");
  v1::GenerateRequest r = Request("The cat", 100);
  r.set_ignore_eos(true);
  auto reader = stub_->GenerateStream(&ctx, r);
  v1::GenerateStreamResponse msg;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->Read(&msg));
  ctx.TryCancel();
  while (reader->Read(&msg)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);

  grpc::ClientContext dctx;
  Authorize(&dctx, "key-t1");
  // headroom-tiny makes 100 tokens in a few milliseconds here: the
  // deadline passes while it generates.
  dctx.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(2));
  v1::GenerateResponse unused;
  v1::GenerateRequest slow = Request("A dog", 100);
  slow.set_ignore_eos(true);
  const grpc::Status ds = stub_->Generate(&dctx, slow, &unused);
  EXPECT_EQ(ds.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  // The other stream is unaffected: it ends normally with all its tokens.
  int tokens = 0;
  v1::FinishReason reason = v1::FINISH_REASON_UNSPECIFIED;
  while (other->Read(&msg)) {
    tokens += msg.token_ids_size();
    if (msg.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      reason = msg.finish_reason();
    }
  }
  EXPECT_TRUE(other->Finish().ok());
  EXPECT_EQ(tokens, 100);
  EXPECT_EQ(reason, v1::LENGTH);
  ExpectAllPagesFree();
}

TEST_F(ServerTest, MissingOrWrongKeyIsUnauthenticated) {
  v1::GenerateResponse out;
  grpc::ClientContext none;
  EXPECT_EQ(stub_->Generate(&none, Request("Hi", 2), &out).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext wrong;
  Authorize(&wrong, "key-nobody");
  EXPECT_EQ(stub_->Generate(&wrong, Request("Hi", 2), &out).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext stream_ctx;
  auto reader = stub_->GenerateStream(&stream_ctx, Request("Hi", 2));
  v1::GenerateStreamResponse msg;
  EXPECT_FALSE(reader->Read(&msg));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext info_ctx;
  v1::ModelInfo info;
  EXPECT_EQ(stub_->GetModelInfo(&info_ctx, {}, &info).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ServerTest, QuotaExceededIsResourceExhaustedNamingTheQuota) {
  // max_concurrent_requests and max_queued_requests are checked in
  // service_quota_test over a paused engine: here a request holding the slot
  // would end as fast as headroom-tiny generates, and the check would race.
  v1::GenerateResponse out;
  grpc::Status s;
  grpc::ClientContext tpm;
  Authorize(&tpm, "key-tpm");
  s = stub_->Generate(&tpm, Request("Hi", 100), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("tokens_per_minute"));

  grpc::ClientContext kv;
  Authorize(&kv, "key-kv");
  // 1% of the 256-page pool is 2 pages; 100 tokens need 7.
  s = stub_->Generate(&kv, Request("Hi", 100), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("kv_page_share"));
  ExpectAllPagesFree();
}

TEST_F(ServerTest, EveryInvalidFieldIsInvalidArgumentNamingIt) {
  struct Case {
    std::string field;
    std::function<void(v1::GenerateRequest&)> mutate;
  };
  const std::vector<Case> cases = {
      {"prompt", [](auto& r) { r.set_prompt(""); }},
      {"prompt", [](auto& r) { r.set_prompt("ok \xff\xfe bad"); }},
      {"prompt", [](auto& r) { r.set_prompt("\xc0\xaf"); }},  // overlong
      {"max_tokens", [](auto& r) { r.set_max_tokens(0); }},
      {"max_tokens", [](auto& r) { r.set_max_tokens(600); }},  // > context
      {"min_tokens", [](auto& r) { r.set_min_tokens(-1); }},
      {"min_tokens", [](auto& r) { r.set_min_tokens(9); }},  // > max_tokens
      {"temperature", [](auto& r) { r.set_temperature(-1); }},
      {"top_k", [](auto& r) { r.set_top_k(-1); }},
      {"top_p", [](auto& r) { r.set_top_p(0); }},
      {"top_p", [](auto& r) { r.set_top_p(1.5f); }},
      {"min_p", [](auto& r) { r.set_min_p(2); }},
      {"repetition_penalty", [](auto& r) { r.set_repetition_penalty(0); }},
      {"presence_penalty", [](auto& r) { r.set_presence_penalty(3); }},
      {"frequency_penalty", [](auto& r) { r.set_frequency_penalty(-3); }},
      {"stop[0]", [](auto& r) { r.add_stop(""); }},
      {"stop[1]",
       [](auto& r) {
         r.add_stop("ok");
         r.add_stop("\xe2\x82");  // cut-off character
       }},
      {"stop_token_ids[0]", [](auto& r) { r.add_stop_token_ids(100000); }},
      {"logprobs", [](auto& r) { r.set_logprobs(21); }},
  };
  for (const Case& c : cases) {
    v1::GenerateRequest r = Request("Once", 8);
    c.mutate(r);
    grpc::ClientContext ctx;
    Authorize(&ctx, "key-t1");
    v1::GenerateResponse out;
    const grpc::Status s = stub_->Generate(&ctx, r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_THAT(s.error_message(), HasSubstr(c.field));
  }
  grpc::ClientContext tctx;
  Authorize(&tctx, "key-t1");
  v1::TokenizeRequest tr;
  tr.set_text("\xff");
  v1::TokenizeResponse tout;
  const grpc::Status ts = stub_->Tokenize(&tctx, tr, &tout);
  EXPECT_EQ(ts.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ts.error_message(), HasSubstr("text"));
}

// headroom-tiny has no chat template (and none is given): messages are
// refused naming the field and the fix, in Generate and Tokenize.
TEST_F(ServerTest, MessagesWithoutATemplateAreFailedPrecondition) {
  v1::GenerateRequest r;
  v1::ChatMessage* m = r.add_messages();
  m->set_role("user");
  m->set_content("Once");
  r.set_max_tokens(2);
  grpc::ClientContext ctx;
  Authorize(&ctx, "key-t1");
  v1::GenerateResponse out;
  const grpc::Status s = stub_->Generate(&ctx, r, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("messages: the model has no chat "
                                           "template"));
  EXPECT_THAT(s.error_message(), HasSubstr("--chat-template"));
  grpc::ClientContext tctx;
  Authorize(&tctx, "key-t1");
  v1::TokenizeRequest tr;
  *tr.add_messages() = *m;
  v1::TokenizeResponse tout;
  const grpc::Status ts = stub_->Tokenize(&tctx, tr, &tout);
  EXPECT_EQ(ts.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(ts.error_message(), HasSubstr("messages"));
}

// Three tenants, weights 1:2:4, 16 streams each kept open (a new one as soon
// as one ends) on a server that runs 8 sequences per step: generated tokens
// over the window follow the weights within 15%.
TEST_F(ServerTest, FairShareFollowsWeightsUnderSaturation) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> tokens[3] = {0, 0, 0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    for (int i = 0; i < 16; ++i) {
      clients.emplace_back([&, t, i] {
        auto stub = v1::Headroom::NewStub(channel_);
        while (!stop.load()) {
          grpc::ClientContext ctx;
          Authorize(&ctx, std::string("key-") + kTenants[t]);
          v1::GenerateRequest r;
          r.set_prompt("Once upon a time " + std::to_string(i));
          r.set_max_tokens(32);
          r.set_ignore_eos(true);
          auto reader = stub->GenerateStream(&ctx, r);
          v1::GenerateStreamResponse msg;
          while (reader->Read(&msg)) tokens[t] += msg.token_ids_size();
          reader->Finish();
        }
      });
    }
  }
  // Warm-up until every tenant has streams queued, then the window.
  const auto warm_end = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < warm_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int64_t start[3], end[3];
  for (int t = 0; t < 3; ++t) start[t] = tokens[t].load();
  const auto window_end = Clock::now() + std::chrono::seconds(6);
  while (Clock::now() < window_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (int t = 0; t < 3; ++t) end[t] = tokens[t].load();
  stop.store(true);
  for (auto& c : clients) c.join();

  const double weights[3] = {1, 2, 4};
  double total = 0;
  for (int t = 0; t < 3; ++t) total += static_cast<double>(end[t] - start[t]);
  ASSERT_GT(total, 300) << "too few tokens in the window to judge";
  for (int t = 0; t < 3; ++t) {
    const double share = (end[t] - start[t]) / total;
    EXPECT_NEAR(share / (weights[t] / 7.0), 1.0, 0.15)
        << kTenants[t] << ": " << end[t] - start[t] << " of " << total;
  }
  ExpectAllPagesFree();
}

// 200 requests from 64 concurrent clients, unary and streaming, a quarter
// cancelled mid-way (or by a short deadline): every request ends with a
// status, the server stays up, no page leaks.
TEST_F(ServerTest, ManyConcurrentClientsWithCancellations) {
  std::atomic<int> next{0}, ended{0};
  std::mutex mu;
  std::multiset<int> codes;
  std::vector<std::thread> clients;
  for (int c = 0; c < 64; ++c) {
    clients.emplace_back([&, c] {
      auto stub = v1::Headroom::NewStub(channel_);
      std::mt19937 rng(c);
      for (int n = next++; n < 200; n = next++) {
        grpc::ClientContext ctx;
        Authorize(&ctx, std::string("key-") + kTenants[n % 3]);
        v1::GenerateRequest r;
        r.set_prompt("Lily had a " + std::to_string(n));
        r.set_max_tokens(8 + static_cast<int>(rng() % 24));
        r.set_seed(n);
        const bool cancel = n % 4 == 0;
        grpc::Status s;
        if (n % 2 == 0) {
          auto reader = stub->GenerateStream(&ctx, r);
          v1::GenerateStreamResponse msg;
          bool cancelled = false;
          while (reader->Read(&msg)) {
            if (cancel && !cancelled) {
              ctx.TryCancel();
              cancelled = true;
            }
          }
          s = reader->Finish();
        } else {
          if (cancel) {
            ctx.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(rng() % 5));
          }
          v1::GenerateResponse out;
          s = stub->Generate(&ctx, r, &out);
        }
        ++ended;
        std::lock_guard<std::mutex> lock(mu);
        codes.insert(s.error_code());
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(ended.load(), 200);
  for (int code : codes) {
    EXPECT_TRUE(code == grpc::StatusCode::OK ||
                code == grpc::StatusCode::CANCELLED ||
                code == grpc::StatusCode::DEADLINE_EXCEEDED)
        << "unexpected status " << code;
  }
  EXPECT_GT(codes.count(grpc::StatusCode::OK), 100u);
  // Still up and serving.
  grpc::ClientContext ctx;
  Authorize(&ctx, "key-t1");
  v1::GenerateResponse out;
  EXPECT_TRUE(stub_->Generate(&ctx, Request("Still there?", 4), &out).ok());
  ExpectAllPagesFree();
}

TEST_F(ServerTest, ClientToolGeneratesStreamsAndReportsErrors) {
  const std::string bin = BinaryPath("tools/headroom-client");
  const std::string addr = " --addr " + server_->grpc_address();
  ToolResult unary = RunTool(bin + " generate" + addr +
                             " --api-key key-t1 --json --prompt 'Once upon' "
                             "--seed 3 --max-tokens 8 --temperature 0.7");
  ASSERT_EQ(unary.exit_code, 0) << unary.output;
  const nlohmann::json u = nlohmann::json::parse(unary.stdout_text);
  EXPECT_EQ(u["usage"]["completion_tokens"], 8);
  ToolResult stream = RunTool(bin + " generate" + addr +
                              " --api-key key-t1 --json --stream --prompt "
                              "'Once upon' --seed 3 --max-tokens 8 "
                              "--temperature 0.7");
  ASSERT_EQ(stream.exit_code, 0) << stream.output;
  std::string text;
  std::istringstream lines(stream.stdout_text);
  std::string line;
  while (std::getline(lines, line)) {
    text += nlohmann::json::parse(line)["text"].get<std::string>();
  }
  EXPECT_EQ(text, u["text"].get<std::string>());
  ToolResult info = RunTool(bin + " info --json" + addr + " --api-key key-t2");
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_EQ(nlohmann::json::parse(info.stdout_text)["compression_method"],
            "svd-a");
  ToolResult denied = RunTool(bin + " tokenize --text hi" + addr);
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_THAT(denied.output, HasSubstr("UNAUTHENTICATED"));
  ToolResult health = RunTool(bin + " health" + addr);
  EXPECT_EQ(health.exit_code, 0);
  EXPECT_THAT(health.stdout_text, HasSubstr("SERVING"));
}

std::string PromtoolPath() {
  for (const char* p : {"/usr/bin/promtool", "/usr/local/bin/promtool"}) {
    if (std::filesystem::exists(p)) return p;
  }
  return "";
}

// Prefix caching across requests, salted per tenant. For each of 24
// distinct prompts starting with a 100-token "system prompt" (from the test
// text): t1 sends it with one user turn (a miss), then with another (a hit:
// cached_tokens = the prefix's 6 full pages, 96 tokens); t2 sends the
// second one too and finds nothing (0: another tenant's cache). Requests
// run one at a time. TTFT (the server's, arrival to first token) is
// compared by medians over the populations, which a noisy machine moves
// far less than single requests: a miss prefills ~105 tokens in two
// 64-token steps, a hit ~9 in one, so t2's median must stay above t1's hit
// median (margin: 1.2x) and near t1's miss median (within 2x).
TEST_F(ServerTest, PrefixCacheHitsWithinATenantOnly) {
  std::stringstream text;
  text << std::ifstream(EmbeddedTextPath()).rdbuf();
  const std::vector<std::string> lines = NonEmptyLines(text.str());
  ASSERT_GE(lines.size(), 24u);
  auto tokenize = [&](const std::string& text) {
    grpc::ClientContext ctx;
    Authorize(&ctx, "key-t1");
    v1::TokenizeRequest tr;
    tr.set_text(text);
    tr.set_add_bos(true);
    v1::TokenizeResponse out;
    EXPECT_TRUE(stub_->Tokenize(&ctx, tr, &out).ok());
    return std::vector<int>(out.token_ids().begin(), out.token_ids().end());
  };
  auto generate = [&](const std::string& key, const std::string& prompt) {
    grpc::ClientContext ctx;
    Authorize(&ctx, key);
    v1::GenerateResponse out;
    v1::GenerateRequest r = Request(prompt, 1);
    r.set_temperature(0);
    EXPECT_TRUE(stub_->Generate(&ctx, r, &out).ok());
    return out.usage();
  };
  const std::string turn_a = " Tell me more.", turn_b = " What happened next?";
  std::vector<double> miss, hit, other;
  const std::string before = Metrics();
  for (int i = 0; i < 24; ++i) {
    // The words of line i, then of the next lines, up to 100 tokens.
    std::string prefix;
    for (size_t l = i; tokenize(prefix).size() < 100; ++l) {
      const std::string& line = lines[l % lines.size()];
      size_t at = 0;
      while (at < line.size() && tokenize(prefix).size() < 100) {
        const size_t space = line.find(' ', at + 1);
        prefix += line.substr(at, space - at);
        at = space == std::string::npos ? line.size() : space;
      }
    }
    const std::vector<int> a = tokenize(prefix + turn_a);
    const std::vector<int> b = tokenize(prefix + turn_b);
    size_t common = 0;
    while (common < a.size() && common < b.size() && a[common] == b[common]) {
      ++common;
    }
    // The two prompts share 100..111 tokens: 6 full pages of 16.
    ASSERT_GE(common, 100u) << i;
    ASSERT_LT(common, 112u) << i;
    const v1::Usage first = generate("key-t1", prefix + turn_a);
    const v1::Usage second = generate("key-t1", prefix + turn_b);
    const v1::Usage third = generate("key-t2", prefix + turn_b);
    EXPECT_EQ(first.cached_tokens(), 0) << i;
    EXPECT_EQ(second.cached_tokens(), 96) << i;
    EXPECT_EQ(third.cached_tokens(), 0) << i;
    miss.push_back(first.time_to_first_token_seconds());
    hit.push_back(second.time_to_first_token_seconds());
    other.push_back(third.time_to_first_token_seconds());
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double m_miss = median(miss), m_hit = median(hit),
               m_other = median(other);
  std::cout << "TTFT medians (ms): miss " << m_miss * 1e3 << ", hit "
            << m_hit * 1e3 << ", other tenant " << m_other * 1e3 << "\n";
  EXPECT_GT(m_other, 1.2 * m_hit)
      << "miss " << m_miss << " hit " << m_hit << " other tenant " << m_other;
  EXPECT_LT(m_other, 2.0 * m_miss) << "miss " << m_miss << " other " << m_other;
  EXPECT_GT(m_miss, 1.2 * m_hit);
  // The counters by tenant: t1 found 24 x 96 tokens, t2 none.
  const std::string after = Metrics();
  auto delta = [&](const std::string& sample) {
    return MetricValue(after, sample) -
           std::max(0.0, MetricValue(before, sample));
  };
  EXPECT_EQ(delta("headroom:prefix_cache_hits_total{tenant=\"t1\"}"), 24 * 96);
  EXPECT_EQ(delta("headroom:prefix_cache_hits_total{tenant=\"t2\"}"), 0);
  EXPECT_GE(delta("headroom:prefix_cache_queries_total{tenant=\"t2\"}"),
            24 * 100);
  EXPECT_GT(MetricValue(after, "headroom:kv_cache_cached_blocks"), 0);
  ExpectAllPagesFree();
}

TEST_F(ServerTest, MetricsPassPromtoolAndCoverTheDashboard) {
  // Some traffic first, so the labelled families have samples.
  grpc::ClientContext ctx;
  Authorize(&ctx, "key-t2");
  v1::GenerateResponse out;
  ASSERT_TRUE(stub_->Generate(&ctx, Request("Hello", 4), &out).ok());
  const std::string metrics = Metrics();
  EXPECT_THAT(metrics,
              HasSubstr("headroom:generation_tokens_total{tenant=\"t2\"}"));
  EXPECT_EQ(MetricValue(metrics, "headroom:compression_ratio"), 2);

  const std::string promtool = PromtoolPath();
  if (!promtool.empty()) {
    const std::string dir = MakeTempDir("promtool");
    std::ofstream(dir + "/metrics.txt") << metrics;
    ToolResult r =
        RunTool(promtool + " check metrics < " + dir + "/metrics.txt");
    // Exit 1 is a parse error; 3 is lint problems only. The only lints
    // accepted are the two the naming decision implies (docs/decisions.md):
    // ':' in names, and vLLM's histogram name iteration_tokens_total.
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.output;
    std::istringstream lines(r.output);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      EXPECT_TRUE(line.find("metric names should not contain ':'") !=
                      std::string::npos ||
                  line.find("headroom:iteration_tokens_total non-counter "
                            "metrics should not have \"_total\" suffix") !=
                      std::string::npos)
          << line;
    }
  }

  // Every metric the dashboard queries (panels and variables) is exported;
  // tests/deploy checks the alert rules the same way (tests/promql_metrics.h).
  auto queried = DashboardMetricNames(
      ReadJsonFile(std::string(HEADROOM_SOURCE_DIR) +
                   "/deploy/grafana/headroom-dashboard.json"));
  ASSERT_TRUE(queried.ok()) << queried.status();
  EXPECT_GT(queried->size(), 15u);
  EXPECT_THAT(MissingMetrics(*queried, metrics), ::testing::IsEmpty())
      << "the dashboard queries metrics that /metrics lacks";
}

// --- Start-up and lifecycle, each with its own process. ---------------------

// The metrics endpoint against hostile or unusual HTTP (issue 12): unknown
// paths and methods, malformed and oversized requests, idle connections
// held open. One server for the suite, no compression (quick to start).
class MetricsHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string model = ModelPath();
    server_ = std::make_unique<ServerProcess>();
    ASSERT_TRUE(
        server_->Start({"--model", model, "--listen", "127.0.0.1:0",
                        "--metrics-listen", "127.0.0.1:0", "--allow-anonymous"},
                       MakeTempDir("metrics_http") + "/log"));
    ASSERT_TRUE(server_->WaitForLog("serving", 120)) << server_->Log();
  }

  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(60), 0) << server_->Log();
    }
    server_.reset();
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "the metrics server did not start";
  }

  // After each test: the process is alive, /metrics and gRPC answer.
  void TearDown() override {
    if (server_ == nullptr) return;
    EXPECT_EQ(HttpGet(server_->metrics_port(), "/metrics").status, 200)
        << server_->Log();
    auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
        server_->grpc_address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    grpc::health::v1::HealthCheckResponse hr;
    ASSERT_TRUE(health->Check(&ctx, {}, &hr).ok()) << server_->Log();
    EXPECT_EQ(hr.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }

  static int port() { return server_->metrics_port(); }

  static std::unique_ptr<ServerProcess> server_;
};

std::unique_ptr<ServerProcess> MetricsHttpTest::server_;

TEST_F(MetricsHttpTest, UnknownPathsAre404) {
  for (const char* path : {"/", "/favicon.ico", "/metrics/", "/metricsX"}) {
    const RawHttpResponse r = RawHttpRequest(
        port(), "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(r.status, 404) << path;
  }
}

TEST_F(MetricsHttpTest, OtherMethodsAre405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    for (const char* path : {"/metrics", "/healthz", "/readyz"}) {
      const RawHttpResponse r = RawHttpRequest(
          port(), std::string(method) + " " + path +
                      " HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
      EXPECT_EQ(r.status, 405) << method << " " << path;
      EXPECT_EQ(r.headers.count("allow") ? r.headers.at("allow") : "",
                "GET, HEAD")
          << method << " " << path;
    }
  }
}

TEST_F(MetricsHttpTest, MalformedAndOversizedRequestsAreRejected) {
  EXPECT_EQ(RawHttpRequest(port(), "GARBAGE\r\n\r\n").status, 400);
  EXPECT_EQ(RawHttpRequest(port(), "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n")
                .status,
            400);
  const std::string big(64 * 1024, 'h');
  EXPECT_EQ(RawHttpRequest(
                port(), "GET /metrics HTTP/1.1\r\nX-Big: " + big + "\r\n\r\n")
                .status,
            431);
}

TEST_F(MetricsHttpTest, HeadHasTheLengthAndNoBody) {
  RawHttpConnection c(port());
  ASSERT_TRUE(c.Send("HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n"));
  const RawHttpResponse head = c.ReadResponse(/*head=*/true);
  EXPECT_EQ(head.status, 200);
  ASSERT_EQ(head.headers.count("content-length"), 1u);
  EXPECT_GT(std::stoi(head.headers.at("content-length")), 100);
  // Nothing but the next response follows on the connection.
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  const RawHttpResponse next = c.ReadResponse();
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "ok\n");
}

TEST_F(MetricsHttpTest, KeepAliveAnswersTwoRequestsOnOneConnection) {
  RawHttpConnection c(port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.Send("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"));
  const RawHttpResponse first = c.ReadResponse();
  EXPECT_EQ(first.status, 200);
  EXPECT_THAT(first.body, HasSubstr("headroom:"));
  ASSERT_TRUE(c.Send("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n"));
  const RawHttpResponse second = c.ReadResponse();
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "ready\n");
}

TEST_F(MetricsHttpTest, IdleAndHalfSentConnectionsDoNotDelayMetrics) {
  std::vector<std::unique_ptr<RawHttpConnection>> held;
  for (int i = 0; i < 64; ++i) {
    held.push_back(std::make_unique<RawHttpConnection>(port()));
    ASSERT_TRUE(held.back()->ok()) << i;
    // Half of them a partial request line, half nothing at all.
    if (i % 2 == 0) {
      ASSERT_TRUE(held.back()->Send("GET /metr"));
    }
  }
  for (const char* path : {"/metrics", "/readyz"}) {
    const auto start = Clock::now();
    const RawHttpResponse r = RawHttpRequest(
        port(), "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n\r\n");
    const auto took = Clock::now() - start;
    EXPECT_EQ(r.status, 200) << path;
    // The requirement (CivetWeb took 9.7 s or timed out).
    EXPECT_LT(took, std::chrono::seconds(1)) << path;
  }
}

TEST(ServerStartupTest, MalformedYamlStopsWithOneLine) {
  const std::string dir = MakeTempDir("yaml");
  std::ofstream(dir + "/bad.yaml") << "model:\n  path: [unclosed\n";
  ServerProcess p;
  ASSERT_TRUE(p.Start({"--config", dir + "/bad.yaml"}, dir + "/log"));
  EXPECT_EQ(p.WaitExit(60), 2);
  const auto lines = NonEmptyLines(p.Log());
  ASSERT_EQ(lines.size(), 1u) << p.Log();
  EXPECT_THAT(lines[0], HasSubstr("bad.yaml:"));
  EXPECT_THAT(lines[0], HasSubstr("malformed YAML"));
}

TEST(ServerStartupTest, MissingModelStopsWithOneLine) {
  const std::string dir = MakeTempDir("model");
  ServerProcess p;
  ASSERT_TRUE(p.Start({"--model", dir + "/no-such-model.bin", "--listen",
                       "127.0.0.1:0", "--metrics-listen", ""},
                      dir + "/log"));
  EXPECT_EQ(p.WaitExit(60), 1);
  const auto lines = NonEmptyLines(p.Log());
  ASSERT_EQ(lines.size(), 1u) << p.Log();
  EXPECT_THAT(lines[0], HasSubstr("no-such-model.bin does not exist"));
}

TEST(ServerStartupTest, PortInUseStopsWithOneLine) {
  const std::string model = ModelPath();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string busy = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const std::string dir = MakeTempDir("port");
  for (const bool metrics : {false, true}) {
    ServerProcess p;
    ASSERT_TRUE(
        p.Start({"--model", model, "--listen", metrics ? "127.0.0.1:0" : busy,
                 "--metrics-listen", metrics ? busy : ""},
                dir + "/log"));
    EXPECT_EQ(p.WaitExit(60), 1);
    const auto lines = NonEmptyLines(p.Log());
    ASSERT_EQ(lines.size(), 1u) << p.Log();
    EXPECT_THAT(lines[0], HasSubstr("cannot listen"));
    EXPECT_THAT(lines[0], HasSubstr(busy));
  }
  ::close(fd);
}

TEST(ServerStartupTest, InvalidMetricsAddressStopsWithOneLine) {
  const std::string model = ModelPath();
  const std::string dir = MakeTempDir("metrics_address");
  for (const char* bad : {"127.0.0.1:65536", "127.0.0.1", "[::1:9464"}) {
    ServerProcess p;
    ASSERT_TRUE(p.Start(
        {"--model", model, "--listen", "127.0.0.1:0", "--metrics-listen", bad},
        dir + "/log"));
    EXPECT_EQ(p.WaitExit(60), 2) << bad;  // refused with the config
    const auto lines = NonEmptyLines(p.Log());
    ASSERT_EQ(lines.size(), 1u) << p.Log();
    EXPECT_THAT(lines[0], HasSubstr(std::string("\"") + bad + "\""));
  }
}

TEST(ServerStartupTest, CudaWithoutDeviceStopsWithOneLine) {
  if (runtime::CheckDeviceAvailable(runtime::Device::kCuda).ok()) {
    GTEST_SKIP() << "a CUDA device is present: device: cuda would start "
                    "(cuda_backend_test covers the CUDA backend)";
  }
  const std::string model = ModelPath();
  const std::string dir = MakeTempDir("cuda");
  ServerProcess p;
  ASSERT_TRUE(p.Start({"--model", model, "--listen", "127.0.0.1:0",
                       "--metrics-listen", "", "--device", "cuda"},
                      dir + "/log"));
  EXPECT_EQ(p.WaitExit(120), 1);
  const auto lines = NonEmptyLines(p.Log());
  ASSERT_EQ(lines.size(), 1u) << p.Log();
  // Without a device, or in a build without the CUDA backend.
  EXPECT_THAT(lines[0], HasSubstr("device: cuda was requested but"));
}

TEST(ServerLifecycleTest, NotReadyIsUnavailableAndSigtermExitsZero) {
  const std::string model = ModelPath();
  const std::string dir = MakeTempDir("ready");
  ServerProcess p;
  ASSERT_TRUE(p.Start(
      {"--model", model, "--listen", "127.0.0.1:0", "--metrics-listen",
       "127.0.0.1:0", "--allow-anonymous", "--load-delay-seconds", "600"},
      dir + "/log"));
  ASSERT_TRUE(p.WaitForLog("metrics listening", 120)) << p.Log();
  auto channel =
      grpc::CreateChannel(p.grpc_address(), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext hctx;
  grpc::health::v1::HealthCheckResponse hr;
  ASSERT_TRUE(health->Check(&hctx, {}, &hr).ok());
  EXPECT_EQ(hr.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(HttpGet(p.metrics_port(), "/readyz").status, 503);
  EXPECT_EQ(HttpGet(p.metrics_port(), "/healthz").status, 200);

  auto stub = v1::Headroom::NewStub(channel);
  grpc::ClientContext ctx;
  v1::GenerateRequest r;
  r.set_prompt("Hi");
  v1::GenerateResponse out;
  const grpc::Status s = stub->Generate(&ctx, r, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("loading"));
  EXPECT_EQ(p.Stop(60), 0) << p.Log();
}

TEST(ServerLifecycleTest, SigtermLetsInFlightStreamsFinish) {
  const std::string model = ModelPath();
  const std::string dir = MakeTempDir("drain");
  ServerProcess p;
  ASSERT_TRUE(
      p.Start({"--model", model, "--listen", "127.0.0.1:0", "--metrics-listen",
               "", "--allow-anonymous", "--drain-deadline-seconds", "60"},
              dir + "/log"));
  ASSERT_TRUE(p.WaitForLog("serving", 120)) << p.Log();
  auto stub = v1::Headroom::NewStub(grpc::CreateChannel(
      p.grpc_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::GenerateRequest r;
  r.set_prompt("Once");
  r.set_max_tokens(100);
  r.set_ignore_eos(true);
  auto reader = stub->GenerateStream(&ctx, r);
  v1::GenerateStreamResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  ::kill(p.pid(), SIGTERM);
  int tokens = msg.token_ids_size();
  while (reader->Read(&msg)) tokens += msg.token_ids_size();
  const grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message() << "\n"
                           << p.Log();
  EXPECT_EQ(tokens, 100);  // finished, not cut off
  EXPECT_EQ(p.WaitExit(60), 0) << p.Log();
  EXPECT_THAT(p.Log(), HasSubstr("draining"));
}

// A projections file from headroom-compress with a per-layer KV budget and
// head regrouping: GetModelInfo reports the per-layer KV heads and groups
// the file holds, and the decision record with its sensitivities.
TEST(ServerCompressionDecisionTest, ModelInfoCarriesTheDecision) {
  const std::string model = ModelPath(), dir = MakeTempDir("decision");
  const std::string file = dir + "/p.safetensors";
  auto c = RunTool(BinaryPath("tools/headroom-compress") + " --model " + model +
                   " --calib-text " + EmbeddedTextPath() + " --calib-lines " +
                   std::to_string(kEmbeddedCalibFirst) + ":" +
                   std::to_string(kEmbeddedCalibLast) +
                   " --kv-budget 0.5 --regroup --method svd-a --out " + file);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const nlohmann::json summary = LastJsonLine(c.stdout_text);
  std::ofstream(dir + "/config.yaml")
      << "model:\n  path: " << model
      << "\ncompression:\n  method: svd-a\n  kv_heads: 4\n  projections: "
      << file << "\n  cache_dir: \"\"\nallow_anonymous: true\n";
  ServerProcess p;
  ASSERT_TRUE(p.Start({"--config", dir + "/config.yaml", "--listen",
                       "127.0.0.1:0", "--metrics-listen", ""},
                      dir + "/log"));
  ASSERT_TRUE(p.WaitForLog("serving", 120)) << p.Log();
  auto stub = v1::Headroom::NewStub(grpc::CreateChannel(
      p.grpc_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::ModelInfo info;
  ASSERT_TRUE(stub->GetModelInfo(&ctx, {}, &info).ok());
  const auto decision = nlohmann::json::parse(info.compression_decision());
  EXPECT_EQ(decision, summary["decision"]);
  EXPECT_EQ(decision["sensitivity"].size(), 6u);  // 2 layers, g in {1,2,4}
  ASSERT_EQ(info.layers_size(), 2);
  int served = 0;
  for (int l = 0; l < 2; ++l) {
    const v1::LayerInfo& li = info.layers(l);
    served += li.kv_heads_served();
    EXPECT_EQ(li.kv_heads_served(), decision["allocation"][l].get<int>());
    std::vector<int> order(li.kv_order().begin(), li.kv_order().end());
    const auto& layer = summary["layers"][l];
    EXPECT_EQ(order, layer.contains("kv_order")
                         ? layer["kv_order"].get<std::vector<int>>()
                         : std::vector<int>{});
  }
  EXPECT_LE(served, 8);
  ::kill(p.pid(), SIGTERM);
  EXPECT_EQ(p.WaitExit(60), 0) << p.Log();
}

// The same settings as config keys: the server computes on load what
// headroom-compress writes (the same decision, heads and groups per layer),
// and GetModelInfo reports them.
TEST(ServerCompressionDecisionTest, ABudgetInTheConfigCompressesOnLoad) {
  const std::string model = ModelPath(), dir = MakeTempDir("budget-on-load");
  const std::string lines = std::to_string(kEmbeddedCalibFirst) + ":" +
                            std::to_string(kEmbeddedCalibLast);
  auto c = RunTool(BinaryPath("tools/headroom-compress") + " --model " + model +
                   " --calib-text " + EmbeddedTextPath() + " --calib-lines " +
                   lines + " --kv-budget 0.5 --regroup --holdback-tokens 500" +
                   " --method svd-a --out " + dir + "/p.safetensors");
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const nlohmann::json summary = LastJsonLine(c.stdout_text);
  std::ofstream(dir + "/config.yaml")
      << "model:\n  path: " << model
      << "\ncompression:\n  method: svd-a\n  kv_budget: 0.5\n"
         "  regroup: true\n  holdback_tokens: 500\n  calibration:\n"
         "    text: "
      << EmbeddedTextPath() << "\n    lines: \"" << lines
      << "\"\n  cache_dir: \"\"\nallow_anonymous: true\n";
  ServerProcess p;
  ASSERT_TRUE(p.Start({"--config", dir + "/config.yaml", "--listen",
                       "127.0.0.1:0", "--metrics-listen", ""},
                      dir + "/log"));
  ASSERT_TRUE(p.WaitForLog("serving", 120)) << p.Log();
  EXPECT_THAT(p.Log(), HasSubstr("calibrating svd-a to a KV budget of 0.5"));
  auto stub = v1::Headroom::NewStub(grpc::CreateChannel(
      p.grpc_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::ModelInfo info;
  ASSERT_TRUE(stub->GetModelInfo(&ctx, {}, &info).ok());
  EXPECT_EQ(nlohmann::json::parse(info.compression_decision()),
            summary["decision"]);
  ASSERT_EQ(info.layers_size(), 2);
  for (int l = 0; l < 2; ++l) {
    const v1::LayerInfo& li = info.layers(l);
    const auto& layer = summary["layers"][l];
    EXPECT_EQ(li.kv_heads_served(), layer["kv_heads"].get<int>()) << l;
    std::vector<int> order(li.kv_order().begin(), li.kv_order().end());
    EXPECT_EQ(order, layer.contains("kv_order")
                         ? layer["kv_order"].get<std::vector<int>>()
                         : std::vector<int>{})
        << l;
  }
  ::kill(p.pid(), SIGTERM);
  EXPECT_EQ(p.WaitExit(60), 0) << p.Log();
}

}  // namespace
}  // namespace headroom::testing
