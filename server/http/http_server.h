// HttpServer: an event-driven HTTP/1.1 server (Boost.Asio + Beast) that
// answers with a Router. A fixed pool of I/O threads serves every
// connection, so slow or idle clients cost a socket each, never a thread:
// each request must arrive within `request_timeout`, a keep-alive
// connection may idle for `idle_timeout`, and connections beyond
// `max_connections` are answered 503 and closed.
//
//   Router router;
//   router.Add("GET", "/healthz", ...);
//   auto server = HttpServer::Start("127.0.0.1:0", std::move(router));
//   int port = (*server)->port();
#ifndef HEADROOM_SERVER_HTTP_HTTP_SERVER_H_
#define HEADROOM_SERVER_HTTP_HTTP_SERVER_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/http/http_exchange.h"
#include "server/http/router.h"

namespace headroom::server::http {

struct HttpServerOptions {
  std::string name = "HTTP";  // in error messages: "cannot listen for <name>"
  HttpLimits limits;
  // From accept (or a keep-alive request's first byte) to the whole
  // request: slow or half-sent requests are dropped after it.
  std::chrono::milliseconds request_timeout{5000};
  // Between requests on a keep-alive connection.
  std::chrono::milliseconds idle_timeout{30000};
  // For one response to be taken by the client.
  std::chrono::milliseconds write_timeout{5000};
  int max_connections = 256;
  int io_threads = 1;
};

class HttpServer {
 public:
  // Listens on `address` (host:port; port 0 picks a free one) and serves
  // until destroyed. InvalidArgument for a malformed address or unknown
  // host, Unavailable when it cannot listen (in use, not local, no
  // permission); both name the address.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& address, Router router,
      HttpServerOptions options = {});
  // Stops accepting, closes every connection and joins the I/O threads.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Connections open now (for tests).
  int open_connections() const;

 private:
  struct State;  // Asio objects, kept out of this header
  HttpServer(std::unique_ptr<State> state, int port);

  std::unique_ptr<State> state_;
  int port_ = 0;
};

}  // namespace headroom::server::http

#endif  // HEADROOM_SERVER_HTTP_HTTP_SERVER_H_
