#include "server/http/http_exchange.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>
#include <exception>
#include <sstream>

namespace headroom::server::http {
namespace bhttp = boost::beast::http;

namespace {

std::string AsString(boost::beast::string_view s) {
  return std::string(s.data(), s.size());
}

}  // namespace

// Headers every response carries: metrics and probes must not be cached.
BeastResponse ToBeastResponse(HttpResponse out, unsigned version,
                              bool keep_alive, bool head) {
  BeastResponse res;
  res.version(version);
  res.result(static_cast<unsigned>(out.status));
  res.set(bhttp::field::content_type, out.content_type);
  res.set(bhttp::field::cache_control, "no-store");
  for (const auto& [name, value] : out.headers) res.set(name, value);
  res.keep_alive(keep_alive);
  // HEAD: the length the GET body would have, and no body.
  res.content_length(out.body.size());
  if (!head) res.body() = std::move(out.body);
  return res;
}

void ApplyLimits(const HttpLimits& limits, RequestParser& parser) {
  parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
  parser.body_limit(limits.body_bytes);
}

HttpRequest ToHttpRequest(const BeastRequest& request) {
  HttpRequest in{AsString(request.method_string()),
                 AsString(request.target()),
                 request.body(),
                 {}};
  for (const auto& field : request) {
    std::string name = AsString(field.name_string());
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    in.headers.emplace_back(std::move(name), AsString(field.value()));
  }
  return in;
}

HttpResponse RouteRequest(const Router& router, const BeastRequest& request) {
  try {
    return router.Route(ToHttpRequest(request));
  } catch (const std::exception&) {
    return router.Error(500, "internal error");
  }
}

BeastResponse Respond(const Router& router, const BeastRequest& request) {
  HttpResponse out = RouteRequest(router, request);
  if (out.deferred) out = router.Error(500, "internal error");
  return ToBeastResponse(std::move(out), request.version(),
                         request.keep_alive(),
                         request.method() == bhttp::verb::head);
}

bool IsBadRequest(const boost::beast::error_code& ec) {
  if (ec.category() !=
      bhttp::make_error_code(bhttp::error::bad_method).category()) {
    return false;
  }
  // The HTTP category's I/O ends: the peer closed before or inside a
  // request.
  return ec != bhttp::error::end_of_stream &&
         ec != bhttp::error::partial_message && ec != bhttp::error::need_more;
}

BeastResponse ErrorResponse(const boost::beast::error_code& ec) {
  if (ec == bhttp::error::header_limit) {
    return ClosingResponse(431, "request header too large\n");
  }
  if (ec == bhttp::error::body_limit) {
    return ClosingResponse(413, "request body too large\n");
  }
  return ClosingResponse(400, "bad request\n");
}

BeastResponse ErrorResponse(const Router& router,
                            const boost::beast::error_code& ec) {
  int status = 400;
  std::string message = "bad request";
  if (ec == bhttp::error::header_limit) {
    status = 431;
    message = "request header too large";
  } else if (ec == bhttp::error::body_limit) {
    status = 413;
    message = "request body too large";
  }
  return ToBeastResponse(router.Error(status, message), 11,
                         /*keep_alive=*/false, /*head=*/false);
}

BeastResponse ClosingResponse(int status, std::string body) {
  return ToBeastResponse(TextResponse(status, std::move(body)), 11,
                         /*keep_alive=*/false, /*head=*/false);
}

std::string Serialize(const BeastResponse& response) {
  std::ostringstream out;
  out << response;
  return out.str();
}

std::vector<BeastResponse> AnswerConnectionBytes(const Router& router,
                                                 const HttpLimits& limits,
                                                 std::string_view bytes) {
  std::vector<BeastResponse> answers;
  while (!bytes.empty()) {
    RequestParser parser;
    ApplyLimits(limits, parser);
    parser.eager(true);
    boost::beast::error_code ec;
    // All the bytes are here: one put parses what it can; need_more means
    // the connection ended inside the request.
    while (!parser.is_done() && !bytes.empty()) {
      const size_t used =
          parser.put(boost::asio::const_buffer(bytes.data(), bytes.size()), ec);
      bytes.remove_prefix(used);
      if (ec || used == 0) break;
    }
    if (IsBadRequest(ec)) {
      answers.push_back(ErrorResponse(router, ec));
      break;
    }
    if (!parser.is_done()) break;  // the bytes end inside the request
    answers.push_back(Respond(router, parser.get()));
    if (answers.back().need_eof()) break;
  }
  return answers;
}

}  // namespace headroom::server::http
