// AsyncResponder: how a deferred handler (HttpResponse::deferred) answers
// its request later, from any thread, without holding an I/O thread while
// it waits: either one whole response, or a stream (chunked transfer on
// HTTP/1.1; on HTTP/1.0 the body up to the connection's close) whose
// chunks are written in order as the client takes them.
//
//   response.deferred = [](std::shared_ptr<AsyncResponder> out) {
//     out->OnClientGone([] { /* cancel the work */ });
//     out->BeginStream(200, "text/event-stream", {});
//     out->Write("data: 1\n\n");   // from any thread, any time later
//     out->End();
//   };
#ifndef HEADROOM_SERVER_HTTP_ASYNC_RESPONDER_H_
#define HEADROOM_SERVER_HTTP_ASYNC_RESPONDER_H_

#include <functional>
#include <string>

#include "server/http/router.h"

namespace headroom::server::http {

class AsyncResponder {
 public:
  virtual ~AsyncResponder() = default;

  // The whole answer; call once, and not after BeginStream.
  virtual void Respond(HttpResponse response) = 0;
  // Starts a streamed answer: status and headers now, then Write's chunks,
  // then End. Call once.
  virtual void BeginStream(int status, std::string content_type,
                           HttpHeaders headers) = 0;
  // Queues `data` as the next part of the body (empty data is skipped).
  virtual void Write(std::string data) = 0;
  // The end of the stream (the terminating chunk).
  virtual void End() = 0;
  // `callback` runs once, on an I/O thread, if the client goes away (closes,
  // resets, stops reading past the write timeout) before the answer is
  // complete; at once, on this thread, if it is already gone. Later
  // Respond / Write / End calls are then ignored.
  virtual void OnClientGone(std::function<void()> callback) = 0;
};

}  // namespace headroom::server::http

#endif  // HEADROOM_SERVER_HTTP_ASYNC_RESPONDER_H_
