// libFuzzer target for the HTTP server's request path without sockets: the
// input is everything one connection sends, read by Beast's request parser
// under the server's limits and answered by a Router shaped like the
// metrics routes (http::AnswerConnectionBytes, the functions a session
// runs). The first byte picks the server's default limits or tiny ones, so
// that 413/431 are reachable with short inputs.
// Any crash, sanitizer report or failed check (abort) is a bug. Checked:
// every answer serializes to an HTTP/1.x status line, a HEAD answer has no
// body, and an error answer closes the connection.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/http/http_exchange.h"
#include "server/http/http_server.h"
#include "server/http/router.h"

namespace headroom::server::http {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "check failed: %s\n", what);
    std::abort();
  }
}

const Router& FuzzRouter() {
  static const Router* router = [] {
    auto* r = new Router;
    r->Add("GET", "/metrics", [](const HttpRequest&) {
      return TextResponse(200, "# TYPE up gauge\nup 1\n");
    });
    r->Add("GET", "/healthz",
           [](const HttpRequest&) { return TextResponse(200, "ok\n"); });
    r->Add("POST", "/echo", [](const HttpRequest& q) {
      return TextResponse(200, q.target + "\n" + q.body);
    });
    return r;
  }();
  return *router;
}

void CheckAnswer(const BeastResponse& answer) {
  const std::string wire = Serialize(answer);
  Check(wire.rfind("HTTP/1.", 0) == 0, "status line");
  const unsigned status = answer.result_int();
  Check(status >= 200 && status < 600, "status code");
  if (status >= 400 && status != 404 && status != 405) {
    Check(answer.need_eof(), "error answers close the connection");
  }
}

}  // namespace
}  // namespace headroom::server::http

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace headroom::server::http;
  if (size == 0) return 0;
  HttpLimits limits = HttpServerOptions().limits;
  if (data[0] & 1) {
    limits.header_bytes = 64;
    limits.body_bytes = 16;
  }
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  for (const BeastResponse& a :
       AnswerConnectionBytes(FuzzRouter(), limits, bytes)) {
    CheckAnswer(a);
  }
  // HEAD never carries a body: the input's bytes as the fields of a HEAD.
  const std::string head =
      "HEAD /metrics HTTP/1.1\r\n" + std::string(bytes.substr(0, 64));
  const auto answers = AnswerConnectionBytes(FuzzRouter(), limits, head);
  for (const BeastResponse& a : answers) CheckAnswer(a);
  if (!answers.empty() && answers[0].result_int() == 200) {
    Check(answers[0].body().empty(), "HEAD answer without a body");
  }
  return 0;
}
