// The socket-free HTTP pieces: Router (404, 405 with Allow, HEAD through
// GET), the Beast exchange (limits -> 400/413/431, HEAD without a body,
// keep-alive and pipelining) and listen-address parsing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "server/http/http_exchange.h"
#include "server/http/listen_address.h"
#include "server/http/router.h"
#include "server/metrics_http.h"

namespace headroom::server::http {
namespace {

using ::testing::HasSubstr;

Router TestRouter() {
  Router router;
  router.Add("GET", "/metrics",
             [](const HttpRequest&) { return TextResponse(200, "m 1\n"); });
  router.Add("GET", "/items",
             [](const HttpRequest&) { return TextResponse(200, "[]"); });
  router.Add("POST", "/items", [](const HttpRequest& r) {
    return TextResponse(200, "got " + r.body);
  });
  router.Add("GET", "/boom", [](const HttpRequest&) -> HttpResponse {
    throw std::runtime_error("handler failed");
  });
  return router;
}

HttpResponse Route(const std::string& method, const std::string& target) {
  return TestRouter().Route({method, target, ""});
}

std::string Header(const HttpResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

TEST(HttpRouterTest, UnknownPathsAre404) {
  for (const char* path : {"/", "/favicon.ico", "/metrics/", "/metricsX",
                           "/Metrics", "", "*", "http://x/metrics"}) {
    EXPECT_EQ(Route("GET", path).status, 404) << path;
  }
}

TEST(HttpRouterTest, MatchesThePathWithoutTheQuery) {
  const HttpResponse r = Route("GET", "/metrics?name=x");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "m 1\n");
}

TEST(HttpRouterTest, OtherMethodsAre405WithAllow) {
  for (const char* method :
       {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "BREW"}) {
    const HttpResponse r = Route(method, "/metrics");
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(Header(r, "Allow"), "GET, HEAD") << method;
  }
  const HttpResponse r = Route("DELETE", "/items");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "GET, HEAD, POST");
}

TEST(HttpRouterTest, HeadRunsTheGetHandler) {
  const HttpResponse r = Route("HEAD", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "m 1\n");  // the transport drops it, keeping its length
}

TEST(HttpRouterTest, MethodsReachTheirOwnHandlers) {
  EXPECT_EQ(TestRouter().Route({"POST", "/items", "abc"}).body, "got abc");
  EXPECT_EQ(Route("GET", "/items").body, "[]");
}

TEST(HttpRouterTest, MetricsRoutesAnswerReadiness) {
  MetricsRegistry registry;
  bool ready = false;
  const Router routes =
      MetricsHttpServer::Routes(&registry, [&ready] { return ready; });
  EXPECT_EQ(routes.Route({"GET", "/readyz", ""}).status, 503);
  ready = true;
  EXPECT_EQ(routes.Route({"GET", "/readyz", ""}).status, 200);
  EXPECT_EQ(routes.Route({"GET", "/healthz", ""}).status, 200);
  const HttpResponse m = routes.Route({"GET", "/metrics", ""});
  EXPECT_EQ(m.status, 200);
  EXPECT_THAT(m.content_type, HasSubstr("version=0.0.4"));
  EXPECT_EQ(routes.Route({"POST", "/healthz", ""}).status, 405);
  EXPECT_EQ(routes.Route({"GET", "/", ""}).status, 404);
}

std::vector<BeastResponse> Answer(const std::string& bytes,
                                  HttpLimits limits = {}) {
  return AnswerConnectionBytes(TestRouter(), limits, bytes);
}

TEST(HttpExchangeTest, HeadHasTheGetLengthAndNoBody) {
  const auto answers = Answer("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].result_int(), 200);
  EXPECT_EQ(answers[0][boost::beast::http::field::content_length], "4");
  const std::string wire = Serialize(answers[0]);
  EXPECT_THAT(wire, HasSubstr("Content-Length: 4\r\n"));
  EXPECT_EQ(wire.substr(wire.size() - 4), "\r\n\r\n");  // nothing after
}

TEST(HttpExchangeTest, KeepAliveAnswersPipelinedRequestsInOrder) {
  const auto answers = Answer(
      "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
      "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0].result_int(), 200);
  EXPECT_TRUE(answers[0].keep_alive());
  EXPECT_EQ(answers[1].body(), "got hi");
  EXPECT_EQ(answers[2].result_int(), 404);
}

TEST(HttpExchangeTest, Http10AndConnectionCloseEndTheConnection) {
  auto answers =
      Answer("GET /metrics HTTP/1.0\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0].need_eof());
  answers = Answer(
      "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n"
      "GET /metrics HTTP/1.1\r\n\r\n");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(
      Serialize(answers[0]).find("Connection: close") != std::string::npos,
      true);
}

TEST(HttpExchangeTest, MalformedRequestsAre400AndClose) {
  for (const char* bytes :
       {"GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET /metrics HTTP/9\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET /a b HTTP/1.1\r\n\r\n", "\x01\x02\x03\r\n\r\n",
        "POST /items HTTP/1.1\r\nContent-Length: x\r\n\r\n"}) {
    const auto answers = Answer(bytes);
    ASSERT_EQ(answers.size(), 1u) << bytes;
    EXPECT_EQ(answers[0].result_int(), 400) << bytes;
    EXPECT_TRUE(answers[0].need_eof()) << bytes;
  }
}

TEST(HttpExchangeTest, VersionsOtherThan10And11Are400) {
  for (const char* bytes :
       {"GET /metrics HTTP/2.0\r\n\r\n", "PRI * HTTP/2.0\r\n\r\n",
        "GET /metrics HTTP/0.9\r\n\r\n"}) {
    const auto answers = Answer(bytes);
    ASSERT_EQ(answers.size(), 1u) << bytes;
    EXPECT_EQ(answers[0].result_int(), 400) << bytes;
    EXPECT_TRUE(answers[0].need_eof()) << bytes;
  }
}

TEST(HttpExchangeTest, OversizedHeaderIs431AndBodyIs413) {
  const std::string big(9 * 1024, 'a');
  auto answers = Answer("GET /metrics HTTP/1.1\r\nX-Big: " + big + "\r\n\r\n");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].result_int(), 431);
  // Even before the header ends.
  answers = Answer("GET /metrics HTTP/1.1\r\nX-Big: " + big);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].result_int(), 431);
  HttpLimits small;
  small.body_bytes = 8;
  answers = Answer("POST /items HTTP/1.1\r\nContent-Length: 9\r\n\r\n123456789",
                   small);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].result_int(), 413);
}

TEST(HttpExchangeTest, TruncatedRequestsGetNoAnswer) {
  EXPECT_TRUE(Answer("GET /metr").empty());
  EXPECT_TRUE(
      Answer("POST /items HTTP/1.1\r\nContent-Length: 5\r\n\r\nab").empty());
}

TEST(HttpExchangeTest, ThrowingHandlerIs500) {
  const auto answers = Answer("GET /boom HTTP/1.1\r\n\r\n");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].result_int(), 500);
}

TEST(ListenAddressTest, ParsesHostAndPort) {
  auto a = ParseListenAddress("127.0.0.1:9464");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9464);
  a = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 0);
  a = ParseListenAddress("localhost:65535");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->port, 65535);
}

TEST(ListenAddressTest, RejectsMalformedAddressesNamingThem) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":9464", "h:65536", "h:-1",
                          "h:99999999999", "h:12a", "::1:9464", "h: 80", ""}) {
    auto a = ParseListenAddress(bad);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(a.status().message(), HasSubstr(std::string("\"") + bad))
        << bad;
  }
}

}  // namespace
}  // namespace headroom::server::http
