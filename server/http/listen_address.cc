#include "server/http/listen_address.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace headroom::server::http {
namespace {

absl::Status Invalid(const std::string& address, const char* why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid listen address \"", address, "\": ", why));
}

}  // namespace

absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Invalid(address, "expected host:port, e.g. 127.0.0.1:9464");
  }
  ListenAddress out;
  out.host = address.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' &&
      out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  } else if (out.host.find_first_of("[]:") != std::string::npos) {
    return Invalid(address, "an IPv6 host needs brackets, e.g. [::1]:9464");
  }
  if (out.host.empty()) {
    return Invalid(address, "the host is missing (0.0.0.0 listens on all)");
  }
  const std::string port = address.substr(colon + 1);
  // At most 5 digits, so the value cannot overflow before the range check.
  bool digits = !port.empty() && port.size() <= 5;
  for (char c : port) digits = digits && absl::ascii_isdigit(c);
  if (!digits || std::stoi(port) > 65535) {
    return Invalid(address, "the port must be a number in 0..65535");
  }
  out.port = std::stoi(port);
  return out;
}

}  // namespace headroom::server::http
