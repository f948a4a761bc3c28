// One HTTP connection of HttpServer (internal): reads requests with Beast's
// parser under the server's limits and deadlines, answers each through the
// Router, and closes on errors, timeouts or Connection: close.
#ifndef HEADROOM_SERVER_HTTP_HTTP_SESSION_H_
#define HEADROOM_SERVER_HTTP_HTTP_SESSION_H_

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "server/http/http_server.h"
#include "server/http/router.h"

namespace headroom::server::http {

// Open connections against a limit; the listener takes a slot per
// connection, the session gives it back when it ends.
class ConnectionSlots {
 public:
  explicit ConnectionSlots(int max) : max_(max) {}
  bool TryAcquire();
  void Release() { open_.fetch_sub(1); }
  int open() const { return open_.load(); }

 private:
  const int max_;
  std::atomic<int> open_{0};
};

// Serves `socket` (whose executor must be a strand) until the connection
// ends; the session owns itself through its pending operations. It holds
// one slot of `slots`, released when it ends. `router` and `options` must
// outlive the socket's io_context.
void StartHttpSession(boost::asio::ip::tcp::socket socket, const Router* router,
                      const HttpServerOptions* options,
                      std::shared_ptr<ConnectionSlots> slots);

}  // namespace headroom::server::http

#endif  // HEADROOM_SERVER_HTTP_HTTP_SESSION_H_
