// HttpServer over loopback sockets, in process: keep-alive, HEAD, limits on
// connections and time, and listen errors. Runs under ThreadSanitizer.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "server/http/http_server.h"
#include "tests/raw_http.h"

namespace headroom::server::http {
namespace {

using ::headroom::testing::RawHttpConnection;
using ::headroom::testing::RawHttpRequest;
using ::headroom::testing::RawHttpResponse;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr char kGet[] = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options = {}) {
  Router router;
  router.Add("GET", "/hello",
             [](const HttpRequest&) { return TextResponse(200, "hello\n"); });
  auto server = HttpServer::Start("127.0.0.1:0", std::move(router), options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(HttpServerTest, KeepAliveAnswersTwoRequestsOnOneConnection) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);
  RawHttpConnection c(server->port());
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.Send(kGet));
    const RawHttpResponse r = c.ReadResponse();
    EXPECT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.body, "hello\n");
    EXPECT_EQ(r.headers.count("connection"), 0u);  // 1.1: kept open
  }
  // HEAD: the same headers, no body (the next response follows at once).
  ASSERT_TRUE(c.Send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  const RawHttpResponse head = c.ReadResponse(/*head=*/true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers.at("content-length"), "6");
  ASSERT_TRUE(c.Send(kGet));
  EXPECT_EQ(c.ReadResponse().body, "hello\n");
}

TEST(HttpServerTest, ErrorsAreAnsweredAndTheServerGoesOn) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  EXPECT_EQ(RawHttpRequest(port, "GET / HTTP/1.1\r\n\r\n").status, 404);
  const RawHttpResponse post =
      RawHttpRequest(port, "POST /hello HTTP/1.1\r\n\r\n");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers.at("allow"), "GET, HEAD");
  EXPECT_EQ(RawHttpRequest(port, "NOT HTTP\r\n\r\n").status, 400);
  const std::string big(16 * 1024, 'x');
  EXPECT_EQ(
      RawHttpRequest(port, "GET /hello HTTP/1.1\r\nX: " + big + "\r\n\r\n")
          .status,
      431);
  EXPECT_EQ(RawHttpRequest(port, kGet).status, 200);
}

TEST(HttpServerTest, HalfSentRequestsTimeOutAndDoNotBlockOthers) {
  HttpServerOptions options;
  options.request_timeout = std::chrono::milliseconds(300);
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  std::vector<std::unique_ptr<RawHttpConnection>> idle;
  for (int i = 0; i < 16; ++i) {
    idle.push_back(std::make_unique<RawHttpConnection>(server->port()));
    ASSERT_TRUE(idle.back()->ok());
    if (i % 2 == 0) {
      ASSERT_TRUE(idle.back()->Send("GET /hel"));
    }
  }
  const auto start = Clock::now();
  EXPECT_EQ(RawHttpRequest(server->port(), kGet).status, 200);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  // The request deadline closes them all.
  for (auto& c : idle) EXPECT_TRUE(c->WaitClosed(5));
}

TEST(HttpServerTest, ConnectionsBeyondTheLimitGet503) {
  HttpServerOptions options;
  options.max_connections = 2;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawHttpConnection a(server->port()), b(server->port());
  ASSERT_TRUE(a.ok() && b.ok());
  // Both accepted: each answers.
  ASSERT_TRUE(a.Send(kGet) && b.Send(kGet));
  EXPECT_EQ(a.ReadResponse().status, 200);
  EXPECT_EQ(b.ReadResponse().status, 200);
  RawHttpConnection c(server->port());
  const RawHttpResponse busy = c.ReadResponse();
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.headers.at("connection"), "close");
  EXPECT_EQ(server->open_connections(), 2);
}

TEST(HttpServerTest, ConcurrentClientsOnTwoIoThreads) {
  HttpServerOptions options;
  options.io_threads = 2;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&ok, port = server->port()] {
      RawHttpConnection c(port);
      for (int i = 0; i < 20; ++i) {
        if (c.Send(kGet) && c.ReadResponse().status == 200) ++ok;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), 8 * 20);
}

TEST(HttpServerTest, BadAddressesAreInvalidArgumentNamingThem) {
  for (const char* address :
       {"127.0.0.1:70000", "127.0.0.1", "no-such-host.invalid:80", ":80"}) {
    auto s = HttpServer::Start(address, Router());
    ASSERT_FALSE(s.ok()) << address;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument)
        << s.status();
    EXPECT_THAT(s.status().message(), HasSubstr(address));
  }
}

TEST(HttpServerTest, PortInUseIsUnavailableNamingTheAddress) {
  auto first = StartServer();
  ASSERT_NE(first, nullptr);
  const std::string address = "127.0.0.1:" + std::to_string(first->port());
  HttpServerOptions options;
  options.name = "metrics";
  auto second = HttpServer::Start(address, Router(), options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(),
              HasSubstr("cannot listen for metrics on " + address));
  // Not an address of this machine (TEST-NET-1).
  auto foreign = HttpServer::Start("192.0.2.1:0", Router());
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpServerTest, StopsWithConnectionsOpen) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RawHttpConnection idle(server->port()), half(server->port());
  ASSERT_TRUE(half.Send("GET /hello HTTP/1.1\r\n"));
  RawHttpConnection kept(server->port());
  ASSERT_TRUE(kept.Send(kGet));
  EXPECT_EQ(kept.ReadResponse().status, 200);
  server.reset();  // joins; the connections are closed
  EXPECT_TRUE(idle.WaitClosed(5));
  EXPECT_TRUE(half.WaitClosed(5));
  EXPECT_TRUE(kept.WaitClosed(5));
}

}  // namespace
}  // namespace headroom::server::http
