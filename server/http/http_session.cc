#include "server/http/http_session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "server/http/async_responder.h"
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

class Session;

// The reason phrase for the statuses a stream may start with.
const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 500:
      return "Internal Server Error";
    default:
      return "Status";
  }
}

// What a deferred handler has said so far; the session's strand takes it
// from here under `mu`. The handler may call in from any thread.
class SessionResponder final : public AsyncResponder {
 public:
  explicit SessionResponder(std::shared_ptr<Session> session)
      : session_(std::move(session)) {}

  void Respond(HttpResponse response) override;
  void BeginStream(int status, std::string content_type,
                   HttpHeaders headers) override;
  void Write(std::string data) override;
  void End() override;
  void OnClientGone(std::function<void()> callback) override;

  // Strand side.
  struct Next {
    std::optional<HttpResponse> whole;
    std::optional<std::string> head;  // the stream's status line + headers
    std::string data;                 // chunks queued, joined
    bool end = false;
    std::function<void()> drop;  // the client-gone callback, now unneeded
  };
  Next Take(bool chunked);
  void ClientGone();
  bool has_work() {
    std::lock_guard<std::mutex> lock(mu_);
    return whole_.has_value() || (stream_ && !head_sent_) || !chunks_.empty() ||
           (ended_ && !end_taken_);
  }

 private:
  void Poke();

  std::mutex mu_;
  std::shared_ptr<Session> session_;  // reset when the answer is complete
  std::optional<HttpResponse> whole_;
  bool stream_ = false;
  bool head_sent_ = false;
  int status_ = 200;
  std::string content_type_;
  HttpHeaders headers_;
  std::deque<std::string> chunks_;
  bool ended_ = false;
  bool end_taken_ = false;
  bool gone_ = false;
  std::function<void()> on_gone_;
};

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

  net::any_io_executor executor() { return stream_.get_executor(); }

  void Start() {
    net::dispatch(stream_.get_executor(),
                  [self = shared_from_this()] { self->ReadRequest(); });
  }

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
    beast::http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) {
          self->OnHeader(ec);
        });
  }

  // "Expect: 100-continue" (curl sends it with bodies over 1 KiB and waits
  // a second for it): the interim answer, then the body.
  void OnHeader(beast::error_code ec) {
    if (ec || parser_->is_done()) return OnRead(ec);
    const auto expect = parser_->get()[beast::http::field::expect];
    if (!beast::iequals(expect, "100-continue")) return ReadBody();
    raw_ = "HTTP/1.1 100 Continue\r\n\r\n";
    net::async_write(stream_, net::buffer(raw_),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Close();
                       self->ReadBody();
                     });
  }

  void ReadBody() {
    beast::http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) {
          self->OnRead(ec);
        });
  }

  // Strand: the deferred handler has more to send (or the client left).
  void Pump() {
    if (responder_ == nullptr || writing_ || closed_) return;
    SessionResponder::Next next = responder_->Take(chunked_);
    if (next.whole.has_value()) {
      responder_.reset();
      stream_.expires_never();
      return Send(ToBeastResponse(std::move(*next.whole), version_, keep_alive_,
                                  /*head=*/false));
    }
    std::string bytes;
    if (next.head.has_value()) bytes = std::move(*next.head);
    if (!next.data.empty()) {
      if (chunked_) {
        absl::StrAppend(&bytes, absl::Hex(next.data.size()), "\r\n", next.data,
                        "\r\n");
      } else {
        bytes += next.data;
      }
    }
    if (next.end && chunked_) bytes += "0\r\n\r\n";
    if (bytes.empty() && !next.end) return;
    const bool end = next.end;
    raw_ = std::move(bytes);
    writing_ = true;
    stream_.expires_after(options_->write_timeout);
    net::async_write(
        stream_, net::buffer(raw_),
        [self = shared_from_this(), end](beast::error_code ec, size_t) {
          self->writing_ = false;
          if (ec) return self->Gone();
          if (!end) {
            self->stream_.expires_never();
            return self->Pump();
          }
          self->responder_.reset();
          if (!self->chunked_ || !self->keep_alive_) {
            return self->Linger();
          }
          self->AfterDeferred();
        });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) {
      // Timeouts, resets and EOF just close; bad bytes get an answer.
      if (IsBadRequest(ec)) return Send(ErrorResponse(*router_, ec));
      return Close();
    }
    const BeastRequest& request = parser_->get();
    HttpResponse out = RouteRequest(*router_, request);
    if (!out.deferred) {
      return Send(ToBeastResponse(std::move(out), request.version(),
                                  request.keep_alive(),
                                  request.method() == beast::http::verb::head));
    }
    version_ = request.version();
    keep_alive_ = request.keep_alive();
    chunked_ = version_ >= 11;
    parser_.reset();
    responder_ = std::make_shared<SessionResponder>(shared_from_this());
    // While the handler works, a read watches for the client leaving (and
    // keeps what a pipelining client sends next).
    stream_.expires_never();
    Watch();
    auto deferred = std::move(out.deferred);
    try {
      deferred(responder_);
    } catch (const std::exception&) {
      responder_->Respond(router_->Error(500, "internal error"));
    }
  }

  void Watch() {
    if (watching_ || closed_) return;
    // It sent enough; a read that could not fit would throw.
    if (buffer_.size() >= kWatchBufferCap ||
        buffer_.size() + 1024 > buffer_.max_size()) {
      return;
    }
    watching_ = true;
    stream_.async_read_some(
        buffer_.prepare(1024),
        [self = shared_from_this()](beast::error_code ec, size_t n) {
          self->watching_ = false;
          if (ec) return self->Gone();
          self->buffer_.commit(n);
          if (self->lingering_) {
            self->buffer_.clear();
            return self->DrainInput();
          }
          if (self->responder_ != nullptr) return self->Watch();
          self->ReadRequest();  // the deferred answer is done: next request
        });
  }

  // After a deferred answer on a keep-alive connection.
  void AfterDeferred() {
    if (watching_) {
      // The watch's read is the wait for the next request.
      stream_.expires_after(options_->idle_timeout);
      return;
    }
    AwaitNextRequest();
  }

  // The client went away (or stopped reading) during a deferred answer.
  void Gone() {
    if (responder_ != nullptr) {
      std::shared_ptr<SessionResponder> r = std::move(responder_);
      r->ClientGone();
    }
    Close();
  }

  void Send(BeastResponse response) {
    parser_.reset();
    response_ = std::move(response);
    stream_.expires_after(options_->write_timeout);
    writing_ = true;
    beast::http::async_write(
        stream_, response_,
        [self = shared_from_this()](beast::error_code ec, size_t) {
          self->writing_ = false;
          if (ec) return self->Close();
          if (self->response_.need_eof()) return self->Linger();
          self->AfterDeferred();
        });
  }

  // Sends FIN, then discards input until the client closes or kLingerTime.
  void Linger() {
    lingering_ = true;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    buffer_.clear();
    stream_.expires_after(kLingerTime);
    DrainInput();
  }

  void DrainInput() {
    if (watching_) return;  // the watch's read drains (and ends) it
    stream_.async_read_some(
        net::buffer(drain_),
        [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec) return self->Close();
          self->DrainInput();
        });
  }

  void Close() {
    closed_ = true;
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  static constexpr size_t kWatchBufferCap = 64 * 1024;

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;  // one per request
  BeastResponse response_;               // alive until written
  // A deferred answer in progress: its responder, the request's framing,
  // and the bytes being written.
  std::shared_ptr<SessionResponder> responder_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool chunked_ = true;
  std::string raw_;
  bool writing_ = false;
  bool watching_ = false;  // a read is pending (watch or keep-alive wait)
  bool closed_ = false;
  bool lingering_ = false;
  char drain_[512];
  const Router* router_;
  const HttpServerOptions* options_;
  std::shared_ptr<ConnectionSlots> slots_;
};

void SessionResponder::Poke() {
  // session_ is only reset under mu_ by the strand once the answer is done.
  std::shared_ptr<Session> s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = session_;
  }
  if (s == nullptr) return;
  net::post(s->executor(), [s] { s->Pump(); });
}

void SessionResponder::Respond(HttpResponse response) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (gone_ || stream_ || whole_.has_value()) return;
    whole_ = std::move(response);
  }
  Poke();
}

void SessionResponder::BeginStream(int status, std::string content_type,
                                   HttpHeaders headers) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (gone_ || stream_ || whole_.has_value()) return;
    stream_ = true;
    status_ = status;
    content_type_ = std::move(content_type);
    headers_ = std::move(headers);
  }
  Poke();
}

void SessionResponder::Write(std::string data) {
  if (data.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (gone_ || !stream_ || ended_) return;
    chunks_.push_back(std::move(data));
  }
  Poke();
}

void SessionResponder::End() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (gone_ || !stream_ || ended_) return;
    ended_ = true;
  }
  Poke();
}

void SessionResponder::OnClientGone(std::function<void()> callback) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!gone_) {
      on_gone_ = std::move(callback);
      return;
    }
  }
  callback();
}

void SessionResponder::ClientGone() {
  std::function<void()> callback;
  {
    std::lock_guard<std::mutex> lock(mu_);
    gone_ = true;
    session_.reset();
    chunks_.clear();
    callback = std::move(on_gone_);
  }
  if (callback) callback();
}

SessionResponder::Next SessionResponder::Take(bool chunked) {
  Next next;
  std::lock_guard<std::mutex> lock(mu_);
  if (whole_.has_value()) {
    next.whole = std::move(whole_);
    whole_.reset();
    // The answer is complete: drop what may own this responder (the
    // handler's state through its callback), and the session.
    session_.reset();
    next.drop = std::move(on_gone_);  // destroyed by the caller, unlocked
    on_gone_ = nullptr;
    return next;
  }
  if (!stream_) return next;
  if (!head_sent_) {
    head_sent_ = true;
    std::string head =
        absl::StrCat(chunked ? "HTTP/1.1 " : "HTTP/1.0 ", status_, " ",
                     Reason(status_), "\r\n", "Content-Type: ", content_type_,
                     "\r\n", "Cache-Control: no-store\r\n");
    for (const auto& [name, value] : headers_) {
      absl::StrAppend(&head, name, ": ", value, "\r\n");
    }
    head += chunked ? "Transfer-Encoding: chunked\r\n\r\n"
                    : "Connection: close\r\n\r\n";
    next.head = std::move(head);
  }
  while (!chunks_.empty()) {
    next.data += chunks_.front();
    chunks_.pop_front();
  }
  if (ended_ && !end_taken_) {
    end_taken_ = true;
    next.end = true;
    session_.reset();
    next.drop = std::move(on_gone_);
    on_gone_ = nullptr;
  }
  return next;
}

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
