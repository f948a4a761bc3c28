#include "server/http/http_server.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/http/http_session.h"
#include "server/http/listen_address.h"

namespace headroom::server::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// After a failed accept (e.g. out of file descriptors) wait a little
// instead of spinning on the error.
constexpr std::chrono::milliseconds kAcceptRetry{50};

}  // namespace

struct HttpServer::State {
  State(Router r, HttpServerOptions o)
      : router(std::move(r)),
        options(std::move(o)),
        slots(std::make_shared<ConnectionSlots>(options.max_connections)),
        acceptor(io),
        retry(io),
        busy(Serialize(ClosingResponse(503, "too many connections\n"))) {}

  absl::StatusOr<tcp::endpoint> Resolve(const std::string& address);
  absl::Status Listen(const std::string& address);
  void Accept();
  void OnAccept(boost::system::error_code ec, tcp::socket socket);
  void Reject(tcp::socket socket);

  // Destroyed in reverse order: the io_context (and with it the sessions its
  // pending handlers own) before the router and options they point to.
  Router router;
  HttpServerOptions options;
  std::shared_ptr<ConnectionSlots> slots;
  net::io_context io;
  tcp::acceptor acceptor;
  net::steady_timer retry;
  const std::string busy;  // the 503 for connections over the limit
  std::vector<std::thread> threads;
};

absl::StatusOr<tcp::endpoint> HttpServer::State::Resolve(
    const std::string& address) {
  auto parsed = ParseListenAddress(address);
  if (!parsed.ok()) return parsed.status();
  const auto port = static_cast<unsigned short>(parsed->port);
  boost::system::error_code ec;
  const net::ip::address ip = net::ip::make_address(parsed->host, ec);
  if (!ec) return tcp::endpoint(ip, port);
  tcp::resolver resolver(io);
  auto results = resolver.resolve(parsed->host, std::to_string(port),
                                  tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen for ", options.name, " on ", address,
                     ": unknown host \"", parsed->host, "\""));
  }
  return results.begin()->endpoint();
}

absl::Status HttpServer::State::Listen(const std::string& address) {
  auto endpoint = Resolve(address);
  if (!endpoint.ok()) return endpoint.status();
  boost::system::error_code ec;
  acceptor.open(endpoint->protocol(), ec);
  // SO_REUSEADDR: restart despite TIME_WAIT; Linux still refuses a port
  // that another socket listens on.
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(*endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen for ",
                                               options.name, " on ", address,
                                               ": ", ec.message()));
  }
  return absl::OkStatus();
}

void HttpServer::State::Accept() {
  // Each connection gets its own strand: with several I/O threads its
  // handlers still run one at a time.
  acceptor.async_accept(
      net::make_strand(io),
      [this](boost::system::error_code ec, tcp::socket socket) {
        OnAccept(ec, std::move(socket));
      });
}

void HttpServer::State::OnAccept(boost::system::error_code ec,
                                 tcp::socket socket) {
  if (ec == net::error::operation_aborted) return;  // shutting down
  if (ec) {
    retry.expires_after(kAcceptRetry);
    retry.async_wait([this](boost::system::error_code wait_ec) {
      if (!wait_ec) Accept();
    });
    return;
  }
  if (slots->TryAcquire()) {
    StartHttpSession(std::move(socket), &router, &options, slots);
  } else {
    Reject(std::move(socket));
  }
  Accept();
}

void HttpServer::State::Reject(tcp::socket socket) {
  // A short answer the kernel takes at once; then close.
  auto s = std::make_shared<tcp::socket>(std::move(socket));
  net::async_write(*s, net::buffer(busy),
                   [s](boost::system::error_code, size_t) {
                     boost::system::error_code ignored;
                     s->shutdown(tcp::socket::shutdown_both, ignored);
                     s->close(ignored);
                   });
}

HttpServer::HttpServer(std::unique_ptr<State> state, int port)
    : state_(std::move(state)), port_(port) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& address, Router router, HttpServerOptions options) {
  auto state = std::make_unique<State>(std::move(router), std::move(options));
  if (absl::Status s = state->Listen(address); !s.ok()) return s;
  // Read before the I/O threads start using the acceptor.
  const int port = state->acceptor.local_endpoint().port();
  state->Accept();
  const int threads = std::max(1, state->options.io_threads);
  for (int i = 0; i < threads; ++i) {
    state->threads.emplace_back([io = &state->io] { io->run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(state), port));
}

HttpServer::~HttpServer() {
  state_->io.stop();
  for (std::thread& t : state_->threads) t.join();
  // state_'s destructor now closes the acceptor and every connection.
}

int HttpServer::open_connections() const { return state_->slots->open(); }

}  // namespace headroom::server::http
