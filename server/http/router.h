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
//
// A handler that cannot answer at once (it waits for the engine, or streams)
// returns a response with `deferred` set: the transport then calls it with an
// AsyncResponder (async_responder.h) that answers later, from any thread.
#ifndef HEADROOM_SERVER_HTTP_ROUTER_H_
#define HEADROOM_SERVER_HTTP_ROUTER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace headroom::server::http {

class AsyncResponder;

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET" (methods are case-sensitive)
  std::string target;  // origin form: path plus optional "?query"
  std::string body;
  HttpHeaders headers = {};  // names in lower case, values as sent

  // The first value of the header `lower_name` (lower case); "" if absent.
  std::string Header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  // Extra headers (e.g. Allow); Content-Type, Content-Length and Connection
  // are the transport's.
  HttpHeaders headers;
  std::string body;
  // When set, the transport ignores the fields above and calls this once
  // with a responder that answers the request later (async_responder.h).
  std::function<void(std::shared_ptr<AsyncResponder>)> deferred;
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

  // How error answers (404, 405, 500, and the transport's 400/413/431) are
  // written; text/plain "<message>\n" unless set.
  using ErrorFormatter =
      std::function<HttpResponse(int status, const std::string& message)>;
  void SetErrorFormatter(ErrorFormatter formatter);
  HttpResponse Error(int status, const std::string& message) const;

 private:
  ErrorFormatter error_formatter_;
  // path -> method -> handler.
  std::map<std::string, std::map<std::string, HttpHandler>, std::less<>>
      routes_;
};

}  // namespace headroom::server::http

#endif  // HEADROOM_SERVER_HTTP_ROUTER_H_
