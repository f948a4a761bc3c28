#include "server/metrics_http.h"

#include <civetweb.h>

#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace headroom::server {
namespace {

int Reply(mg_connection* conn, int code, const char* content_type,
          const std::string& body) {
  // Headers by hand: mg_send_http_ok's Content-Length plus a Connection:
  // close keep HTTP/1.0 scrapers and curl happy alike.
  const char* reason = code == 200   ? "OK"
                       : code == 503 ? "Service Unavailable"
                                     : "Not Found";
  // Formatted here and written raw: CivetWeb's mg_printf mishandles some
  // conversions (%zu crashed it).
  const std::string head = absl::StrCat(
      "HTTP/1.1 ", code, " ", reason, "\r\nContent-Type: ", content_type,
      "\r\nContent-Length: ", body.size(),
      "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
  mg_write(conn, head.data(), head.size());
  const mg_request_info* info = mg_get_request_info(conn);
  if (info == nullptr || info->request_method == nullptr ||
      std::strcmp(info->request_method, "HEAD") != 0) {
    mg_write(conn, body.data(), body.size());
  }
  return code;
}

}  // namespace

MetricsHttpServer::MetricsHttpServer(const MetricsRegistry* registry,
                                     std::function<bool()> ready)
    : registry_(registry), ready_(std::move(ready)) {}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, const MetricsRegistry* registry,
    std::function<bool()> ready) {
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });
  auto server = std::make_unique<MetricsHttpServer>(registry, std::move(ready));
  // CivetWeb takes "host:port" as "listening_ports".
  const char* options[] = {
      "listening_ports",    address.c_str(), "num_threads", "4",
      "request_timeout_ms", "10000",         nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  // Keep CivetWeb's own error text off stderr: the caller prints one line.
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
  server->context_ = mg_start(&callbacks, nullptr, options);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen for metrics on ",
                                               address,
                                               " (address in use or invalid)"));
  }
  mg_server_port ports[4];
  std::memset(ports, 0, sizeof(ports));
  const int n = mg_get_server_ports(server->context_, 4, ports);
  if (n > 0) server->port_ = ports[0].port;
  mg_set_request_handler(server->context_, "/metrics$", HandleMetrics,
                         server.get());
  mg_set_request_handler(server->context_, "/healthz$", HandleHealthz,
                         server.get());
  mg_set_request_handler(server->context_, "/readyz$", HandleReadyz,
                         server.get());
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (context_ != nullptr) mg_stop(context_);
}

int MetricsHttpServer::HandleMetrics(mg_connection* conn, void* self) {
  auto* s = static_cast<MetricsHttpServer*>(self);
  return Reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
               s->registry_->Render());
}

int MetricsHttpServer::HandleHealthz(mg_connection* conn, void*) {
  return Reply(conn, 200, "text/plain", "ok\n");
}

int MetricsHttpServer::HandleReadyz(mg_connection* conn, void* self) {
  auto* s = static_cast<MetricsHttpServer*>(self);
  return s->ready_() ? Reply(conn, 200, "text/plain", "ready\n")
                     : Reply(conn, 503, "text/plain", "not ready\n");
}

}  // namespace headroom::server
