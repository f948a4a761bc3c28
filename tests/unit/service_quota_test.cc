// Tenant concurrency quotas through the real gRPC service, in-process, over
// an engine whose thread is not running: an admitted request stays in
// flight until the test steps the engine, so whether a second request finds
// the slot taken never depends on how fast the model generates.

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "headroom/v1/headroom.grpc.pb.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/util/sha256.h"
#include "server/metrics.h"
#include "server/server_metrics.h"
#include "server/service.h"
#include "server/tenants.h"
#include "tests/test_support.h"
#include "tests/unit/compress_test_util.h"

namespace headroom::server {
namespace {

using ::testing::HasSubstr;

class ServiceQuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model =
        compress::testing::LoadShared(::headroom::testing::EmbeddedModelPath());
    auto tokenizer =
        std::shared_ptr<const runtime::Tokenizer>(std::move(model.tokenizer));
    runtime::BackendOptions b;
    b.num_blocks = 64;
    const int context = model.weights.config.max_seq_len;
    auto backend = runtime::CreateCpuBackend(std::move(model.weights), b);
    ASSERT_TRUE(backend.ok()) << backend.status();
    auto engine = Engine::Create(std::move(*backend), tokenizer, {});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = engine->get();
    TenantConfig one;
    one.name = "one-at-a-time";
    one.api_key_sha256 = runtime::Sha256Hex("key-one");
    one.max_concurrent_requests = 1;
    TenantConfig queued;
    queued.name = "one-queued";
    queued.api_key_sha256 = runtime::Sha256Hex("key-queued");
    queued.max_queued_requests = 1;
    auto ctx = std::make_unique<ServingContext>();
    ctx->engine = std::move(*engine);
    ctx->tokenizer = tokenizer;
    ctx->tenants = std::make_unique<TenantRegistry>(
        std::vector<TenantConfig>{one, queued}, /*allow_anonymous=*/false, 64);
    ctx->fair_share =
        std::make_unique<FairShare>(std::map<std::string, double>{});
    ctx->model_info.set_context_length(context);
    service_.Activate(std::move(ctx));  // the engine thread is not started

    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Headroom::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                            grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    // Whatever is still queued ends (cancelled or generated) once the
    // engine runs; then no call is left in flight.
    engine_->Start();
    EXPECT_TRUE(service_.WaitIdle(std::chrono::steady_clock::now() +
                                  std::chrono::seconds(60)));
    server_->Shutdown();
  }

  static v1::GenerateRequest Request(const std::string& prompt, int tokens) {
    v1::GenerateRequest r;
    r.set_prompt(prompt);
    r.set_max_tokens(tokens);
    return r;
  }

  // Waits until the tenant has `n` requests in flight (admission happens on
  // a gRPC thread after the client's call returns).
  bool WaitInFlight(const std::string& tenant, int n) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      for (const TenantSnapshot& t : service_.tenants()->Snapshot()) {
        if (t.name == tenant && t.in_flight == n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  // A stream opened under `key`, not read (its request is admitted and
  // waits in the engine's queue).
  struct OpenStream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::GenerateStreamResponse>> reader;
  };
  void Open(OpenStream& s, const std::string& key) {
    s.ctx.AddMetadata("authorization", "Bearer " + key);
    s.reader = stub_->GenerateStream(&s.ctx, Request("Tom", 20));
  }

  // With the engine paused, a request the quota wrongly admits waits: the
  // deadline turns that into a failure instead of a hang.
  grpc::Status GenerateAs(const std::string& key) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + key);
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    v1::GenerateResponse out;
    return stub_->Generate(&ctx, Request("Hi", 2), &out);
  }

  MetricsRegistry registry_;
  ServerMetrics metrics_{registry_};
  HeadroomService service_{&metrics_};
  Engine* engine_ = nullptr;  // owned by the service's context
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Headroom::Stub> stub_;
};

TEST_F(ServiceQuotaTest, SecondConcurrentRequestIsResourceExhausted) {
  OpenStream first;
  Open(first, "key-one");
  ASSERT_TRUE(WaitInFlight("one-at-a-time", 1));
  const grpc::Status s = GenerateAs("key-one");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("max_concurrent_requests"));
  EXPECT_THAT(s.error_message(), HasSubstr("one-at-a-time"));

  // The slot comes back when the first request ends (cancelled; its final
  // event comes once the engine runs).
  first.ctx.TryCancel();
  v1::GenerateStreamResponse msg;
  while (first.reader->Read(&msg)) {
  }
  EXPECT_EQ(first.reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  engine_->Start();
  ASSERT_TRUE(WaitInFlight("one-at-a-time", 0));
  EXPECT_TRUE(GenerateAs("key-one").ok());
}

TEST_F(ServiceQuotaTest, SecondQueuedRequestIsResourceExhausted) {
  OpenStream first;
  Open(first, "key-queued");
  ASSERT_TRUE(WaitInFlight("one-queued", 1));
  const grpc::Status s = GenerateAs("key-queued");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("max_queued_requests"));
  first.ctx.TryCancel();
  v1::GenerateStreamResponse msg;
  while (first.reader->Read(&msg)) {
  }
  first.reader->Finish();
}

}  // namespace
}  // namespace headroom::server
