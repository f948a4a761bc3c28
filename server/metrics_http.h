// MetricsHttpServer: the HTTP side of the server: GET /metrics in the
// Prometheus text format, /healthz (the process is up) and /readyz (the
// model is loaded and the server is not draining), as routes of an
// http::HttpServer (server/http/).
//
//   auto http = MetricsHttpServer::Start("127.0.0.1:9464", registry,
//                                        [&] { return ready.load(); });
//   int port = (*http)->port();  // the bound port (useful with port 0)
#ifndef HEADROOM_SERVER_METRICS_HTTP_H_
#define HEADROOM_SERVER_METRICS_HTTP_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/http/router.h"
#include "server/metrics.h"

namespace headroom::server {

namespace http {
class HttpServer;
}

class MetricsHttpServer {
 public:
  // `address` is host:port (port 0 picks a free one). InvalidArgument for a
  // malformed address, Unavailable when it cannot listen (port in use, not
  // a local address); the message names the address. `registry` and
  // `ready` must outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, const MetricsRegistry* registry,
      std::function<bool()> ready);
  ~MetricsHttpServer();  // stops serving (waits for handlers to return)
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const;

  // The routes: GET (and HEAD) of /metrics, /healthz and /readyz.
  static http::Router Routes(const MetricsRegistry* registry,
                             std::function<bool()> ready);

 private:
  explicit MetricsHttpServer(std::unique_ptr<http::HttpServer> server);

  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_METRICS_HTTP_H_
