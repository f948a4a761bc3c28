// The OpenAI-compatible HTTP API over a HeadroomService (the same engine,
// tenants, quotas, fair share and metrics as gRPC), as http::Router routes:
//
//   POST /v1/completions       text_completion, or SSE chunks with stream
//   POST /v1/chat/completions  chat.completion (messages rendered with the
//                              served model's chat template, as gRPC's
//                              GenerateRequest.messages; none: 400)
//   GET  /v1/models, /v1/models/NAME
//   POST /tokenize, /detokenize (vLLM's)
//   GET  /health               200 while serving, else 503 (no key needed)
//
// Every call: `Authorization: Bearer KEY` -> the tenant (as gRPC's
// metadata), then the body (request_parser.h), the model name (404 for
// another), then HeadroomService::StartCall once per choice (n): choice i
// gets seed + i when the request has a seed (so choice 0 is what the same
// request gives with n = 1, and over gRPC), fresh seeds otherwise. The
// handlers answer deferred (server/http/async_responder.h): no I/O thread
// waits for the engine, and a client that goes away cancels its engine
// requests at once.
#ifndef HEADROOM_SERVER_OPENAI_HANDLERS_H_
#define HEADROOM_SERVER_OPENAI_HANDLERS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/http/router.h"
#include "server/openai/request_parser.h"
#include "server/service.h"

namespace headroom::server::openai {

struct OpenAiOptions {
  std::string model_name;  // the only model id served
  int64_t created = 0;     // Unix seconds, in /v1/models
};

class OpenAiApi {
 public:
  // `service` must outlive the routes.
  OpenAiApi(HeadroomService* service, OpenAiOptions options);

  // The routes, with errors in OpenAI's JSON shape; they use `this`, which
  // must outlive the server that serves them.
  http::Router Routes();

 private:
  http::HttpResponse Models(const http::HttpRequest& request);
  http::HttpResponse Model(const http::HttpRequest& request);
  http::HttpResponse Generate(const http::HttpRequest& request,
                              Endpoint endpoint);
  http::HttpResponse Tokenize(const http::HttpRequest& request);
  http::HttpResponse Detokenize(const http::HttpRequest& request);
  // NotFound unless `model` is the served one ("" passes when optional).
  absl::Status CheckModel(const std::string& model, bool optional) const;
  int context_length() const;

  HeadroomService* service_;
  OpenAiOptions options_;
};

}  // namespace headroom::server::openai

#endif  // HEADROOM_SERVER_OPENAI_HANDLERS_H_
