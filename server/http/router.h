// The pure side of the HTTP server: a request (method, target, body) goes in,
// a response (status, headers, body) comes out. No sockets and no Beast, so
// routing is unit-tested and fuzzed on its own.
//
//   Router router;
//   router.Add("GET", "/healthz", [](const HttpRequest&) {
//     return TextResponse(200, "ok\n");
//   });
//   HttpResponse r = router.Route({"GET", "/healthz?x=1", ""});  // 200
//
// Paths match exactly (the query string is ignored). A path with handlers
// but not for the method is 405 with an Allow header; an unknown path is 404.
// HEAD runs the GET handler: the caller sends its headers without the body.
#ifndef HEADROOM_SERVER_HTTP_ROUTER_H_
#define HEADROOM_SERVER_HTTP_ROUTER_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace headroom::server::http {

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET" (methods are case-sensitive)
  std::string target;  // origin form: path plus optional "?query"
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  // Extra headers (e.g. Allow); Content-Type, Content-Length and Connection
  // are the transport's.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// A text/plain response; `status` 200, 404 and so on.
HttpResponse TextResponse(int status, std::string body);

class Router {
 public:
  // Registers `handler` for exactly `method` and `path` (no query, no
  // trailing-slash folding). A later Add of the same pair replaces it.
  void Add(const std::string& method, const std::string& path,
           HttpHandler handler);
  // The handler's response, 404 or 405. Handlers run on the server's I/O
  // threads, so they must be quick and thread-safe.
  HttpResponse Route(const HttpRequest& request) const;
  // "GET, HEAD" style list of the methods `path` accepts; empty if none.
  std::string AllowedMethods(const std::string& path) const;

 private:
  // path -> method -> handler.
  std::map<std::string, std::map<std::string, HttpHandler>, std::less<>>
      routes_;
};

}  // namespace headroom::server::http

#endif  // HEADROOM_SERVER_HTTP_ROUTER_H_
