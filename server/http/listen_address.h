// "host:port" listen addresses: 127.0.0.1:9464, 0.0.0.0:0, localhost:80,
// [::1]:9464. Pure parsing; HttpServer resolves the host.
#ifndef HEADROOM_SERVER_HTTP_LISTEN_ADDRESS_H_
#define HEADROOM_SERVER_HTTP_LISTEN_ADDRESS_H_

#include <string>

#include "absl/status/statusor.h"

namespace headroom::server::http {

struct ListenAddress {
  std::string host;  // without IPv6 brackets
  int port = 0;      // 0..65535; 0 picks a free port
};

// InvalidArgument naming `address` when it is not host:port with a
// non-empty host and a decimal port in 0..65535.
absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& address);

}  // namespace headroom::server::http

#endif  // HEADROOM_SERVER_HTTP_LISTEN_ADDRESS_H_
