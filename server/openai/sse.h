// Server-sent events over an http::AsyncResponder: the stream's headers,
// one `data: <json>\n\n` event per chunk, and `data: [DONE]\n\n` at the
// end (OpenAI's framing).
#ifndef HEADROOM_SERVER_OPENAI_SSE_H_
#define HEADROOM_SERVER_OPENAI_SSE_H_

#include <memory>
#include <string>
#include <string_view>

#include "server/http/async_responder.h"

namespace headroom::server::openai {

// One event's bytes: "data: " + payload + "\n\n" (payload has no newline:
// JSON as dumped compactly).
std::string SseEvent(std::string_view payload);

class SseWriter {
 public:
  explicit SseWriter(std::shared_ptr<http::AsyncResponder> out)
      : out_(std::move(out)) {}
  // 200, text/event-stream; call once before Send.
  void Begin();
  void Send(std::string_view json);
  // data: [DONE], then the end of the stream.
  void Done();

 private:
  std::shared_ptr<http::AsyncResponder> out_;
};

}  // namespace headroom::server::openai

#endif  // HEADROOM_SERVER_OPENAI_SSE_H_
