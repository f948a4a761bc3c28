#include "server/http/router.h"

namespace headroom::server::http {
namespace {

// The path of an origin-form target ("/metrics?x" -> "/metrics").
std::string_view PathOf(std::string_view target) {
  const size_t query = target.find('?');
  return query == std::string_view::npos ? target : target.substr(0, query);
}

}  // namespace

std::string HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return "";
}

void Router::SetErrorFormatter(ErrorFormatter formatter) {
  error_formatter_ = std::move(formatter);
}

HttpResponse Router::Error(int status, const std::string& message) const {
  if (error_formatter_) return error_formatter_(status, message);
  return TextResponse(status, message + "\n");
}

HttpResponse TextResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

void Router::Add(const std::string& method, const std::string& path,
                 HttpHandler handler) {
  routes_[path][method] = std::move(handler);
}

std::string Router::AllowedMethods(const std::string& path) const {
  auto it = routes_.find(path);
  if (it == routes_.end()) return "";
  std::string allow;
  auto append = [&allow](std::string_view m) {
    if (!allow.empty()) allow += ", ";
    allow += m;
  };
  // GET first and HEAD right after it: the order clients expect to read.
  const bool get = it->second.count("GET") > 0;
  if (get) append("GET");
  if (get || it->second.count("HEAD") > 0) append("HEAD");
  for (const auto& [method, handler] : it->second) {
    if (method != "GET" && method != "HEAD") append(method);
  }
  return allow;
}

HttpResponse Router::Route(const HttpRequest& request) const {
  const std::string_view path = PathOf(request.target);
  auto it = routes_.find(path);
  if (it == routes_.end()) return Error(404, "not found");
  const auto& methods = it->second;
  auto handler = methods.find(request.method);
  if (handler == methods.end() && request.method == "HEAD") {
    handler = methods.find("GET");
  }
  if (handler == methods.end()) {
    HttpResponse r = Error(405, "method not allowed");
    r.headers.emplace_back("Allow", AllowedMethods(std::string(path)));
    return r;
  }
  return handler->second(request);
}

}  // namespace headroom::server::http
