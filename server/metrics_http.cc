#include "server/metrics_http.h"

#include <utility>

#include "server/http/http_server.h"

namespace headroom::server {

http::Router MetricsHttpServer::Routes(const MetricsRegistry* registry,
                                       std::function<bool()> ready) {
  http::Router router;
  router.Add("GET", "/metrics", [registry](const http::HttpRequest&) {
    http::HttpResponse r = http::TextResponse(200, registry->Render());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
  router.Add("GET", "/healthz", [](const http::HttpRequest&) {
    return http::TextResponse(200, "ok\n");
  });
  router.Add("GET", "/readyz",
             [ready = std::move(ready)](const http::HttpRequest&) {
               return ready() ? http::TextResponse(200, "ready\n")
                              : http::TextResponse(503, "not ready\n");
             });
  return router;
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<http::HttpServer> server)
    : server_(std::move(server)) {}

MetricsHttpServer::~MetricsHttpServer() = default;

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, const MetricsRegistry* registry,
    std::function<bool()> ready) {
  http::HttpServerOptions options;
  options.name = "metrics";
  auto server = http::HttpServer::Start(
      address, Routes(registry, std::move(ready)), std::move(options));
  if (!server.ok()) return server.status();
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(std::move(*server)));
}

int MetricsHttpServer::port() const { return server_->port(); }

}  // namespace headroom::server
