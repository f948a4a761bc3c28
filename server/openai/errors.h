// Errors of the OpenAI-compatible API in OpenAI's shape:
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
// with the HTTP status mapped from the absl code the service and the
// request parser use:
//   InvalidArgument 400 invalid_request_error (param: the field the message
//                   starts with)
//   Unauthenticated 401 authentication_error (code invalid_api_key)
//   PermissionDenied 403, NotFound 404 (code model_not_found when set so),
//   ResourceExhausted 429 rate_limit_error (code rate_limit_exceeded),
//   Unimplemented 501, Unavailable 503, anything else 500.
#ifndef HEADROOM_SERVER_OPENAI_ERRORS_H_
#define HEADROOM_SERVER_OPENAI_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "server/http/router.h"

namespace headroom::server::openai {

struct ApiError {
  int status = 500;
  std::string message;
  std::string type = "server_error";
  std::string param;  // "" = null
  std::string code;   // "" = null
};

// The parameter an InvalidArgument message names: its leading identifier
// when followed by ':' or '[' or ' ' ("max_tokens must be >= 1",
// "stop[0] is an empty string", "tools: is not supported"); "" otherwise.
std::string ParamOf(const std::string& message);

ApiError FromStatus(const absl::Status& status);
// {"error": {...}} as JSON text.
std::string ErrorJson(const ApiError& error);
http::HttpResponse ErrorResponse(const ApiError& error);
inline http::HttpResponse ErrorResponse(const absl::Status& status) {
  return ErrorResponse(FromStatus(status));
}
// For the router's and the transport's own errors (404, 405, 413, ...).
http::HttpResponse TransportError(int status, const std::string& message);

}  // namespace headroom::server::openai

#endif  // HEADROOM_SERVER_OPENAI_ERRORS_H_
