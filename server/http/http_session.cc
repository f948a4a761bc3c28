#include "server/http/http_session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <optional>

#include "server/http/http_exchange.h"

namespace headroom::server::http {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// How long a closing connection drains what the client still sends, so
// that closing with unread bytes (an oversized request) does not reset the
// connection before the client has read our answer.
constexpr std::chrono::milliseconds kLingerTime{1000};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Router* router,
          const HttpServerOptions* options,
          std::shared_ptr<ConnectionSlots> slots)
      : stream_(std::move(socket)),
        // Room for a whole request; the parser's limits stop it earlier.
        buffer_(options->limits.header_bytes + options->limits.body_bytes +
                4096),
        router_(router),
        options_(options),
        slots_(std::move(slots)) {}
  ~Session() { slots_->Release(); }

  void Start() {
    net::dispatch(stream_.get_executor(),
                  [self = shared_from_this()] { self->ReadRequest(); });
  }

 private:
  // Keep-alive: waits (idle_timeout) for the next request's first bytes,
  // then reads it under the request deadline.
  void AwaitNextRequest() {
    if (buffer_.size() > 0) return ReadRequest();  // pipelined
    stream_.expires_after(options_->idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(1024),
        [self = shared_from_this()](beast::error_code ec, size_t n) {
          if (ec) return self->Close();
          self->buffer_.commit(n);
          self->ReadRequest();
        });
  }

  void ReadRequest() {
    parser_.emplace();
    ApplyLimits(options_->limits, *parser_);
    stream_.expires_after(options_->request_timeout);
    beast::http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) {
          self->OnRead(ec);
        });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      // Timeouts, resets and EOF just close; bad bytes get an answer.
      if (IsBadRequest(ec)) return Send(ErrorResponse(ec));
      return Close();
    }
    Send(Respond(*router_, parser_->get()));
  }

  void Send(BeastResponse response) {
    parser_.reset();
    response_ = std::move(response);
    stream_.expires_after(options_->write_timeout);
    beast::http::async_write(
        stream_, response_,
        [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec) return self->Close();
          if (self->response_.need_eof()) return self->Linger();
          self->AwaitNextRequest();
        });
  }

  // Sends FIN, then discards input until the client closes or kLingerTime.
  void Linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    buffer_.clear();
    stream_.expires_after(kLingerTime);
    DrainInput();
  }

  void DrainInput() {
    stream_.async_read_some(
        net::buffer(drain_),
        [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec) return self->Close();
          self->DrainInput();
        });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;  // one per request
  BeastResponse response_;               // alive until written
  char drain_[512];
  const Router* router_;
  const HttpServerOptions* options_;
  std::shared_ptr<ConnectionSlots> slots_;
};

}  // namespace

bool ConnectionSlots::TryAcquire() {
  if (open_.fetch_add(1) < max_) return true;
  open_.fetch_sub(1);
  return false;
}

void StartHttpSession(tcp::socket socket, const Router* router,
                      const HttpServerOptions* options,
                      std::shared_ptr<ConnectionSlots> slots) {
  std::make_shared<Session>(std::move(socket), router, options,
                            std::move(slots))
      ->Start();
}

}  // namespace headroom::server::http
