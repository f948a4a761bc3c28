// One HTTP/1.x exchange without sockets: Beast's request parser with our
// limits, the routed response in Beast's form (HEAD without a body,
// keep-alive as the request asks) and the answers to requests that fail to
// parse. HttpServer's sessions and the fuzzer (tests/fuzz/http_request_fuzz)
// run the same functions.
#ifndef HEADROOM_SERVER_HTTP_HTTP_EXCHANGE_H_
#define HEADROOM_SERVER_HTTP_HTTP_EXCHANGE_H_

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "server/http/router.h"

namespace headroom::server::http {

using BeastRequest =
    boost::beast::http::request<boost::beast::http::string_body>;
using BeastResponse =
    boost::beast::http::response<boost::beast::http::string_body>;
using RequestParser =
    boost::beast::http::request_parser<boost::beast::http::string_body>;

struct HttpLimits {
  size_t header_bytes = 8 * 1024;  // request line and fields; beyond: 431
  size_t body_bytes = 64 * 1024;   // beyond: 413
};

// Applies `limits` to a fresh parser (one parser per request).
void ApplyLimits(const HttpLimits& limits, RequestParser& parser);

// The request as the router sees it (header names in lower case).
HttpRequest ToHttpRequest(const BeastRequest& request);
// The router's answer to a parsed request; 500 when the handler throws.
// May be deferred (HttpResponse::deferred): the session answers it.
HttpResponse RouteRequest(const Router& router, const BeastRequest& request);
// `out` in Beast's form (HEAD: the length without the body).
BeastResponse ToBeastResponse(HttpResponse out, unsigned version,
                              bool keep_alive, bool head);
// The routed response to a parsed request (Beast's parser accepts HTTP/1.0
// and 1.1 only); 500 when the handler throws or answers deferred (only a
// session can serve those).
BeastResponse Respond(const Router& router, const BeastRequest& request);

// True when `ec` from reading a request means the bytes were not a valid
// request (answer ErrorResponse); false for I/O ends (EOF, reset, timeout:
// just close).
bool IsBadRequest(const boost::beast::error_code& ec);
// 431 (header limit), 413 (body limit) or 400, with Connection: close.
BeastResponse ErrorResponse(const boost::beast::error_code& ec);
// The same, written by `router`'s error formatter.
BeastResponse ErrorResponse(const Router& router,
                            const boost::beast::error_code& ec);
// An HTTP/1.1 text response with Connection: close (e.g. 503 when the
// server has too many connections).
BeastResponse ClosingResponse(int status, std::string body);

// `response` as bytes on the wire.
std::string Serialize(const BeastResponse& response);

// Reads `bytes` as everything one connection sent and answers each request
// in turn, as a session does: stops after an error answer, a response that
// closes the connection, or a request the bytes end inside (no answer).
// For tests and the fuzzer.
std::vector<BeastResponse> AnswerConnectionBytes(const Router& router,
                                                 const HttpLimits& limits,
                                                 std::string_view bytes);

}  // namespace headroom::server::http

#endif  // HEADROOM_SERVER_HTTP_HTTP_EXCHANGE_H_
