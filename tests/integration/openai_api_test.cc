// The OpenAI-compatible HTTP API of the real headroom-server on the
// embedded model, over loopback: the official `openai` npm client
// (tests/js/openai_client_check.mjs: models, completions plain and
// streamed, n > 1, logprobs, stop, seeds, the SDK's error classes) checked
// against the gRPC API's answers to the same requests; SSE framing on the
// wire; cancellation when a client leaves mid-stream; and hostile input:
// unknown paths and methods, malformed JSON, huge bodies, slow and
// half-open clients, 1,000 idle keep-alive connections.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "headroom/v1/headroom.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "runtime/util/sha256.h"
#include "tests/integration/server_process.h"
#include "tests/raw_http.h"
#include "tests/test_support.h"
#include "tests/tool_runner.h"

namespace headroom::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

const std::string kRoot = HEADROOM_SOURCE_DIR;
constexpr char kModel[] = "headroom-tiny";

std::string Config() {
  const std::string model = kRoot + "/models/headroom-tiny";
  std::string y = "model:\n  path: " + model +
                  "\ncompression:\n  method: svd-a\n  kv_heads: 4\n"
                  "  projections: " +
                  model +
                  "/projections-svd-a-kv4.safetensors\n  cache_dir: \"\"\n"
                  "allow_anonymous: false\ntenants:\n";
  y += "  - name: main\n    api_key_sha256: " + runtime::Sha256Hex("key-main") +
       "\n";
  y +=
      "  - name: tiny\n    api_key_sha256: " + runtime::Sha256Hex("key-quota") +
      "\n    tokens_per_minute: 20\n";
  return y;
}

int OpenAiPort(const std::string& log) {
  std::smatch m;
  static const std::regex re("openai listening on http://[0-9.]+:([0-9]+)");
  return std::regex_search(log, m, re) ? std::stoi(m[1]) : 0;
}

// A loopback socket with full control of the bytes (chunked replies
// included, which RawHttpConnection does not decode).
class Socket {
 public:
  explicit Socket(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Socket() { Close(); }
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  bool ok() const { return fd_ >= 0; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  bool Send(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n =
          ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until `until` appears in what was read, EOF or the timeout.
  std::string ReadUntil(const std::string& until, double timeout_s) {
    const auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (Clock::now() < end &&
           (until.empty() || data_.find(until) == std::string::npos)) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        eof_ = true;
        break;
      }
      data_.append(buf, static_cast<size_t>(n));
    }
    return data_;
  }
  bool eof() const { return eof_; }

 private:
  int fd_ = -1;
  std::string data_;
  bool eof_ = false;
};

std::string Post(const std::string& path, const std::string& body,
                 const std::string& key = "key-main",
                 const std::string& extra = "") {
  return "POST " + path +
         " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Authorization: Bearer " +
         key + "\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The body of a chunked response (after the header), decoded; `ok` false
// when the framing is broken.
std::string Dechunk(const std::string& body, bool* ok) {
  std::string out;
  size_t at = 0;
  *ok = false;
  while (true) {
    const size_t eol = body.find("\r\n", at);
    if (eol == std::string::npos) return out;
    const size_t size = std::stoul(body.substr(at, eol - at), nullptr, 16);
    at = eol + 2;
    if (size == 0) {
      *ok = body.compare(at, 2, "\r\n") == 0;
      return out;
    }
    if (at + size + 2 > body.size()) return out;
    out += body.substr(at, size);
    if (body.compare(at + size, 2, "\r\n") != 0) return out;
    at += size + 2;
  }
}

class OpenAiApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // 1,000 connections of our own, beside the server's.
    rlimit limit;
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      limit.rlim_cur = limit.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    const std::string dir = MakeTempDir("openai-api");
    std::ofstream(dir + "/config.yaml") << Config();
    server_ = std::make_unique<ServerProcess>();
    ASSERT_TRUE(server_->Start(
        {"--config", dir + "/config.yaml", "--listen", "127.0.0.1:0",
         "--metrics-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"},
        dir + "/server.log"));
    ASSERT_TRUE(server_->WaitForLog("serving", 300)) << server_->Log();
    port_ = OpenAiPort(server_->Log());
    ASSERT_GT(port_, 0) << server_->Log();
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
  void SetUp() override { ASSERT_NE(server_, nullptr); }

  static v1::GenerateResponse GrpcGenerate(const v1::GenerateRequest& r) {
    auto stub = v1::Headroom::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer key-main");
    v1::GenerateResponse out;
    grpc::Status s = stub->Generate(&ctx, r, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  static double Metric(const std::string& sample) {
    return MetricValue(HttpGet(server_->metrics_port(), "/metrics").body,
                       sample);
  }

  static std::unique_ptr<ServerProcess> server_;
  static std::shared_ptr<grpc::Channel> channel_;
  static int port_;
};

std::unique_ptr<ServerProcess> OpenAiApiTest::server_;
std::shared_ptr<grpc::Channel> OpenAiApiTest::channel_;
int OpenAiApiTest::port_ = 0;

TEST_F(OpenAiApiTest, OfficialClientAgreesWithGrpc) {
  const std::string js = kRoot + "/tests/js";
  // A failure, not a skip: the check would silently vanish otherwise.
  ASSERT_TRUE(std::filesystem::exists(js + "/node_modules/openai"))
      << js << "/node_modules/openai is missing: run `npm ci --prefix " << js
      << "` (scripts/test.sh does)";
  const ToolResult r =
      RunTool("node " + js + "/openai_client_check.mjs http://127.0.0.1:" +
              std::to_string(port_) + "/v1 " + kModel + " key-main key-quota");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json out = LastJsonLine(r.stdout_text);
  ASSERT_TRUE(out.is_object()) << r.output;

  EXPECT_EQ(out["models"], Json::array({kModel}));

  // The same request over gRPC: the same text and usage.
  v1::GenerateRequest g;
  g.set_prompt("Once upon a time");
  g.set_max_tokens(12);
  g.set_temperature(0.8f);
  g.set_seed(7);
  const v1::GenerateResponse grpc_out = GrpcGenerate(g);
  const Json& c = out["completion"];
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(c["text"], grpc_out.text());
  EXPECT_EQ(c["repeat_text"], c["text"]) << "same seed, same text";
  EXPECT_EQ(c["usage"]["prompt_tokens"], grpc_out.usage().prompt_tokens());
  EXPECT_EQ(c["usage"]["completion_tokens"],
            grpc_out.usage().completion_tokens());
  EXPECT_EQ(
      c["usage"]["total_tokens"],
      grpc_out.usage().prompt_tokens() + grpc_out.usage().completion_tokens());
  EXPECT_EQ(c["finish_reason"],
            grpc_out.finish_reason() == v1::LENGTH ? "length" : "stop");

  const Json& s = out["stream"];
  EXPECT_EQ(s["text"], grpc_out.text());
  EXPECT_GT(s["chunks"].get<int>(), 2);
  EXPECT_EQ(s["finish_reason"], c["finish_reason"]);
  EXPECT_EQ(s["usage"], c["usage"]);

  const Json& n = out["n"];
  ASSERT_EQ(n["texts"].size(), 3u);
  EXPECT_EQ(n["indexes"], Json::array({0, 1, 2}));
  EXPECT_EQ(n["texts"][0], c["text"]) << "choice 0 has the request's seed";
  EXPECT_EQ(n["usage"]["prompt_tokens"], c["usage"]["prompt_tokens"]);
  g.set_seed(8);  // choice 1: seed + 1
  EXPECT_EQ(n["texts"][1], GrpcGenerate(g).text());

  const Json& lp = out["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), lp["completion_tokens"].get<size_t>());
  std::string joined;
  for (const Json& t : lp["tokens"]) joined += t.get<std::string>();
  EXPECT_EQ(joined, lp["text"]);
  for (const Json& k : lp["top_counts"]) EXPECT_EQ(k, 3);
  for (const Json& v : lp["token_logprobs"]) EXPECT_LE(v.get<double>(), 0.0);

  const Json& st = out["stop"];
  const std::string greedy = st["greedy"];
  ASSERT_NE(greedy.find(" was"), std::string::npos) << greedy;
  EXPECT_EQ(st["text"], greedy.substr(0, greedy.find(" was")));
  EXPECT_EQ(st["finish_reason"], "stop");

  const Json& e = out["errors"];
  EXPECT_EQ(e["wrong_key"]["status"], 401);
  EXPECT_TRUE(e["wrong_key"]["isAuth"]) << e["wrong_key"];
  EXPECT_EQ(e["bad_param"]["status"], 400);
  EXPECT_TRUE(e["bad_param"]["isBadRequest"]);
  EXPECT_EQ(e["bad_param"]["param"], "temperature") << e["bad_param"];
  EXPECT_TRUE(e["unsupported"]["isBadRequest"]);
  EXPECT_EQ(e["unsupported"]["param"], "response_format");
  EXPECT_EQ(e["quota"]["status"], 429);
  EXPECT_TRUE(e["quota"]["isRateLimit"]) << e["quota"];
  EXPECT_THAT(e["quota"]["message"].get<std::string>(),
              HasSubstr("tokens_per_minute"));
  EXPECT_TRUE(e["wrong_model"]["isNotFound"]) << e["wrong_model"];
  EXPECT_EQ(e["wrong_model"]["code"], "model_not_found");
  EXPECT_TRUE(e["chat"]["isBadRequest"]) << e["chat"];
  EXPECT_THAT(e["chat"]["message"].get<std::string>(),
              HasSubstr("model headroom-tiny has no chat template; supply "
                        "one with --chat-template FILE"));
}

// usage.prompt_tokens_details.cached_tokens: 0 the first time a long
// prompt is seen, then its full 16-token pages (as gRPC reports them).
TEST_F(OpenAiApiTest, UsageReportsCachedPromptTokens) {
  std::string prompt;
  for (int i = 0; i < 10; ++i) prompt += "the little dog ran to the park. ";
  const std::string body = R"({"model":"headroom-tiny","max_tokens":2,)"
                           R"("temperature":0,"prompt":")" +
                           prompt + "\"}";
  auto completion = [&] {
    const RawHttpResponse r =
        RawHttpRequest(port_, Post("/v1/completions", body));
    EXPECT_EQ(r.status, 200) << r.body;
    return Json::parse(r.body, nullptr, false);
  };
  const Json first = completion();
  const Json second = completion();
  const int prompt_tokens = first["usage"]["prompt_tokens"].get<int>();
  ASSERT_GT(prompt_tokens, 17);
  EXPECT_EQ(first["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  EXPECT_EQ(second["usage"]["prompt_tokens_details"]["cached_tokens"],
            (prompt_tokens - 1) / 16 * 16);
  v1::GenerateRequest g;
  g.set_prompt(prompt);
  g.set_max_tokens(2);
  EXPECT_EQ(GrpcGenerate(g).usage().cached_tokens(),
            (prompt_tokens - 1) / 16 * 16);
}

TEST_F(OpenAiApiTest, SseFramingOnTheWire) {
  Socket s(port_);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s.Send(Post(
      "/v1/completions",
      R"({"model":"headroom-tiny","prompt":"Once upon a time","max_tokens":6,)"
      R"("stream":true,"stream_options":{"include_usage":true},"seed":1})",
      "key-main", "Connection: close\r\n")));
  const std::string raw = s.ReadUntil("0\r\n\r\n", 30);
  const size_t head_end = raw.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << raw;
  const std::string head = raw.substr(0, head_end);
  EXPECT_THAT(head, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(head, HasSubstr("Content-Type: text/event-stream"));
  EXPECT_THAT(head, HasSubstr("Transfer-Encoding: chunked"));
  bool ok = false;
  const std::string body = Dechunk(raw.substr(head_end + 4), &ok);
  ASSERT_TRUE(ok) << raw;
  // Events: "data: {json}\n\n" ..., the usage chunk, "data: [DONE]\n\n".
  std::vector<std::string> events;
  size_t at = 0;
  while (at < body.size()) {
    const size_t end = body.find("\n\n", at);
    ASSERT_NE(end, std::string::npos) << body;
    events.push_back(body.substr(at, end - at));
    at = end + 2;
  }
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "data: [DONE]");
  int completion = 0;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    ASSERT_EQ(events[i].rfind("data: ", 0), 0u) << events[i];
    const Json j = Json::parse(events[i].substr(6));
    EXPECT_EQ(j["object"], "text_completion");
    if (i + 2 == events.size()) {
      EXPECT_TRUE(j["choices"].empty());
      completion = j["usage"]["completion_tokens"];
    } else {
      EXPECT_TRUE(j["usage"].is_null());
      EXPECT_EQ(j["choices"].size(), 1u);
    }
  }
  EXPECT_EQ(completion, 6);
  s.ReadUntil("", 5);
  EXPECT_TRUE(s.eof()) << "Connection: close ends the connection";
}

TEST_F(OpenAiApiTest, ClientLeavingMidStreamCancelsAtOnce) {
  const double before = Metric(
      "headroom:request_success_total{finished_reason=\"CANCELLED\","
      "tenant=\"main\"}");
  Socket s(port_);
  ASSERT_TRUE(s.Send(Post(
      "/v1/completions",
      R"({"model":"headroom-tiny","prompt":"Once upon a time","max_tokens":100,)"
      R"("ignore_eos":true,"stream":true})")));
  ASSERT_THAT(s.ReadUntil("data: {", 30), HasSubstr("data: {"));
  s.Close();
  const auto end = Clock::now() + std::chrono::seconds(5);
  double after = before;
  while (Clock::now() < end) {
    after = Metric(
        "headroom:request_success_total{finished_reason=\"CANCELLED\","
        "tenant=\"main\"}");
    if ((std::isnan(before) && !std::isnan(after)) || after > before) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE((std::isnan(before) && after >= 1) || after == before + 1)
      << before << " -> " << after;
  EXPECT_EQ(Metric("headroom:num_requests_running"), 0);
}

TEST_F(OpenAiApiTest, UnknownPathsMethodsAndMalformedJson) {
  RawHttpResponse r = RawHttpRequest(port_, "GET /v2/nothing HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Json::parse(r.body)["error"]["type"], "not_found_error");
  r = RawHttpRequest(port_, "DELETE /v1/completions HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r.status, 405);
  EXPECT_TRUE(Json::parse(r.body)["error"].is_object());
  for (const std::string& body : std::vector<std::string>{
           "{", "[1,2]", "nul", "{\"model\": \"headroom-tiny\", \"prompt\": 1}",
           "{\"model\":\"headroom-tiny\",\"prompt\":\"x\",\"bogus\":1}",
           std::string("{\"model\":\"headroom-tiny\",\"prompt\":\"\xff\"}")}) {
    r = RawHttpRequest(port_, Post("/v1/completions", body));
    EXPECT_EQ(r.status, 400) << body;
    const Json j = Json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_EQ(j["error"]["type"], "invalid_request_error") << r.body;
  }
  r = RawHttpRequest(port_,
                     Post("/v1/completions",
                          "{\"model\":\"headroom-tiny\",\"prompt\":\"x\","
                          "\"bogus\":1}"));
  EXPECT_EQ(Json::parse(r.body)["error"]["param"], "bogus");
  EXPECT_EQ(RawHttpRequest(port_, "GET /health HTTP/1.0\r\n\r\n").status, 200);
  // No key at all: 401 (this server has no anonymous tenant).
  r = RawHttpRequest(port_, "GET /v1/models HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r.status, 401);
}

TEST_F(OpenAiApiTest, ExpectContinueGetsTheInterimAnswer) {
  const std::string body =
      R"({"model":"headroom-tiny","prompt":"Once","max_tokens":2})";
  Socket s(port_);
  ASSERT_TRUE(
      s.Send("POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
             "Authorization: Bearer key-main\r\nExpect: 100-continue"
             "\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n"));
  EXPECT_THAT(s.ReadUntil("\r\n\r\n", 5),
              ::testing::StartsWith("HTTP/1.1 100 Continue\r\n\r\n"));
  ASSERT_TRUE(s.Send(body));
  EXPECT_THAT(s.ReadUntil("\"usage\"", 30), HasSubstr("HTTP/1.1 200 OK"));
}

TEST_F(OpenAiApiTest, HugeBodiesAreRefusedWith413) {
  Socket s(port_);
  // Announced: refused before it is read.
  ASSERT_TRUE(s.Send(
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
      "key-main\r\nContent-Length: 100000000\r\n\r\n" +
      std::string(100000, 'a')));
  const std::string raw = s.ReadUntil("}}", 10);
  EXPECT_THAT(raw, HasSubstr("HTTP/1.1 413"));
  EXPECT_THAT(raw, HasSubstr("request body too large"));
  // A prompt over engine.max_prompt_bytes inside an accepted body: 400
  // naming the prompt.
  const std::string big(200000, 'x');
  RawHttpResponse r = RawHttpRequest(port_, Post("/v1/completions",
                                                 "{\"model\":\"headroom-tiny\","
                                                 "\"prompt\":\"" +
                                                     big + "\"}"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Json::parse(r.body)["error"]["param"], "prompt") << r.body;
}

TEST_F(OpenAiApiTest, SlowHalfOpenAndIdleClientsDoNotStopOthers) {
  // Slow: half a request header, then nothing. Half-open: a request
  // header cut short, then FIN.
  std::vector<Socket> slow;
  for (int i = 0; i < 20; ++i) {
    slow.emplace_back(port_);
    slow.back().Send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nCont");
  }
  Socket half(port_);
  half.Send("POST /v1/completions HTTP/1.1\r\nContent-Length: 50\r\n\r\n{");
  half.ShutdownWrite();
  // 1,000 idle keep-alive connections, each after one answered request.
  std::vector<Socket> idle;
  for (int i = 0; i < 1000; ++i) {
    idle.emplace_back(port_);
    ASSERT_TRUE(idle.back().ok()) << i;
    ASSERT_TRUE(idle.back().Send(
        "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        "key-main\r\n\r\n"));
  }
  for (int i = 0; i < 1000; ++i) {
    ASSERT_THAT(idle[i].ReadUntil("\"list\"}", 10), HasSubstr("200 OK")) << i;
  }
  // Others are answered at once.
  const auto t0 = Clock::now();
  RawHttpResponse r = RawHttpRequest(
      port_,
      Post("/v1/completions",
           R"({"model":"headroom-tiny","prompt":"Once","max_tokens":4})"));
  const double seconds =
      std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_LT(seconds, 5.0);
  EXPECT_EQ(HttpGet(server_->metrics_port(), "/healthz").status, 200);
  half.ReadUntil("", 10);
  EXPECT_TRUE(half.eof()) << "a half-open client is closed";
}

}  // namespace
}  // namespace headroom::testing

namespace headroom::testing {
namespace {

// A chat template of the test's own, given with --chat-template: a system
// message anywhere but first raises.
constexpr char kChatTemplate[] =
    "{% for m in messages %}{% if m.role == 'system' and not loop.first %}"
    "{{ raise_exception('a system message must come first') }}{% endif %}"
    "{{ m.role }}: {{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}";

// chat.completions with the official client, on the embedded model served
// with that template: the prompt is the rendered template (its token count,
// without BOS, is the usage), streaming and not give the same greedy text,
// and the template's exception is a 400 with its message.
TEST(OpenAiChatTest, OfficialClientChatsThroughTheTemplate) {
  const std::string js = kRoot + "/tests/js";
  ASSERT_TRUE(std::filesystem::exists(js + "/node_modules/openai"))
      << js << "/node_modules/openai is missing: run `npm ci --prefix " << js
      << "` (scripts/test.sh does)";
  const std::string dir = MakeTempDir("openai-chat");
  std::ofstream(dir + "/config.yaml") << Config();
  std::ofstream(dir + "/chat.jinja") << kChatTemplate;
  ServerProcess server;
  ASSERT_TRUE(
      server.Start({"--config", dir + "/config.yaml", "--listen", "127.0.0.1:0",
                    "--metrics-listen", "127.0.0.1:0", "--http-listen",
                    "127.0.0.1:0", "--chat-template", dir + "/chat.jinja"},
                   dir + "/server.log"));
  ASSERT_TRUE(server.WaitForLog("serving", 300)) << server.Log();
  const int port = OpenAiPort(server.Log());
  ASSERT_GT(port, 0) << server.Log();

  const ToolResult r =
      RunTool("node " + js + "/openai_chat_check.mjs http://127.0.0.1:" +
              std::to_string(port) + "/v1 " + kModel + " key-main");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json out = LastJsonLine(r.stdout_text);
  ASSERT_TRUE(out.is_object()) << r.output;

  // The rendered prompt, tokenized without BOS over gRPC.
  auto channel = grpc::CreateChannel(server.grpc_address(),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Headroom::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer key-main");
  v1::TokenizeRequest tr;
  tr.set_text("user: Tell me a story\nassistant:");
  tr.set_add_bos(false);
  v1::TokenizeResponse tokens;
  ASSERT_TRUE(stub->Tokenize(&ctx, tr, &tokens).ok());

  const Json& plain = out["plain"];
  EXPECT_EQ(plain["object"], "chat.completion");
  EXPECT_EQ(plain["role"], "assistant");
  EXPECT_EQ(plain["finish_reason"], "length");
  EXPECT_EQ(plain["usage"]["prompt_tokens"], tokens.token_ids_size());
  EXPECT_EQ(plain["usage"]["completion_tokens"], 10);
  EXPECT_FALSE(plain["content"].get<std::string>().empty());
  const Json& stream = out["stream"];
  EXPECT_EQ(stream["content"], plain["content"]) << "greedy: the same text";
  EXPECT_EQ(stream["role"], "assistant");
  EXPECT_EQ(stream["finish_reason"], "length");
  EXPECT_EQ(stream["usage"]["prompt_tokens"], tokens.token_ids_size());
  EXPECT_TRUE(out["raised"]["isBadRequest"]) << out["raised"];
  EXPECT_THAT(out["raised"]["message"].get<std::string>(),
              HasSubstr("a system message must come first"));
  EXPECT_EQ(server.Stop(60), 0) << server.Log();
}

}  // namespace
}  // namespace headroom::testing
