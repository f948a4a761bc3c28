// MetricsHttpServer: the HTTP side of the server (CivetWeb): GET /metrics in
// the Prometheus text format, /healthz (the process is up) and /readyz (the
// model is loaded and the server is not draining).
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
#include "server/metrics.h"

struct mg_context;
struct mg_connection;

namespace headroom::server {

class MetricsHttpServer {
 public:
  // `address` is host:port (port 0 picks a free one). Unavailable when it
  // cannot listen (port in use, bad address). `registry` and `ready` must
  // outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, const MetricsRegistry* registry,
      std::function<bool()> ready);
  ~MetricsHttpServer();  // stops serving (waits for handlers to return)
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

  // Not listening yet; use Start.
  MetricsHttpServer(const MetricsRegistry* registry,
                    std::function<bool()> ready);

 private:
  static int HandleMetrics(mg_connection* conn, void* self);
  static int HandleHealthz(mg_connection* conn, void* self);
  static int HandleReadyz(mg_connection* conn, void* self);

  const MetricsRegistry* registry_;
  std::function<bool()> ready_;
  mg_context* context_ = nullptr;  // owned; mg_stop in the destructor
  int port_ = 0;
};

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_METRICS_HTTP_H_
