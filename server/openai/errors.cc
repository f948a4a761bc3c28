#include "server/openai/errors.h"

#include "absl/strings/ascii.h"
#include "nlohmann/json.hpp"

namespace headroom::server::openai {

std::string ParamOf(const std::string& message) {
  size_t i = 0;
  while (i < message.size() &&
         (absl::ascii_islower(message[i]) || absl::ascii_isdigit(message[i]) ||
          message[i] == '_' || message[i] == '.')) {
    ++i;
  }
  if (i == 0 || i == message.size()) return "";
  const char next = message[i];
  if (next != ':' && next != '[' && next != ' ') return "";
  std::string param = message.substr(0, i);
  // Words that start sentences, not parameters.
  if (param == "the" || param == "a" || param == "no" || param == "an") {
    return "";
  }
  return param;
}

ApiError FromStatus(const absl::Status& status) {
  ApiError e;
  e.message = std::string(status.message());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      e.status = 400;
      e.type = "invalid_request_error";
      e.param = ParamOf(e.message);
      break;
    case absl::StatusCode::kUnauthenticated:
      e.status = 401;
      e.type = "authentication_error";
      e.code = "invalid_api_key";
      break;
    case absl::StatusCode::kPermissionDenied:
      e.status = 403;
      e.type = "permission_error";
      break;
    case absl::StatusCode::kNotFound:
      e.status = 404;
      e.type = "not_found_error";
      if (e.message.rfind("model", 0) == 0) {
        e.code = "model_not_found";
        e.param = "model";
      }
      break;
    case absl::StatusCode::kResourceExhausted:
      e.status = 429;
      e.type = "rate_limit_error";
      e.code = "rate_limit_exceeded";
      break;
    case absl::StatusCode::kUnimplemented:
      e.status = 501;
      e.type = "not_implemented_error";
      break;
    case absl::StatusCode::kUnavailable:
      e.status = 503;
      e.type = "service_unavailable_error";
      e.code = "service_unavailable";
      break;
    default:
      e.status = 500;
      e.type = "server_error";
      break;
  }
  return e;
}

std::string ErrorJson(const ApiError& error) {
  nlohmann::json j;
  j["message"] = error.message;
  j["type"] = error.type;
  j["param"] =
      error.param.empty() ? nlohmann::json() : nlohmann::json(error.param);
  j["code"] =
      error.code.empty() ? nlohmann::json() : nlohmann::json(error.code);
  nlohmann::json out;
  out["error"] = std::move(j);
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

http::HttpResponse ErrorResponse(const ApiError& error) {
  http::HttpResponse r;
  r.status = error.status;
  r.content_type = "application/json";
  r.body = ErrorJson(error);
  return r;
}

http::HttpResponse TransportError(int status, const std::string& message) {
  ApiError e;
  e.status = status;
  e.message = message;
  e.type = status < 500 ? "invalid_request_error" : "server_error";
  if (status == 404) e.type = "not_found_error";
  if (status == 413) e.code = "request_too_large";
  return ErrorResponse(e);
}

}  // namespace headroom::server::openai
