#include "server/openai/sse.h"

namespace headroom::server::openai {

std::string SseEvent(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 8);
  out += "data: ";
  out += payload;
  out += "\n\n";
  return out;
}

void SseWriter::Begin() {
  // No proxy buffering (nginx), and no caching (the transport adds
  // Cache-Control: no-store).
  out_->BeginStream(200, "text/event-stream; charset=utf-8",
                    {{"X-Accel-Buffering", "no"}});
}

void SseWriter::Send(std::string_view json) { out_->Write(SseEvent(json)); }

void SseWriter::Done() {
  out_->Write(SseEvent("[DONE]"));
  out_->End();
}

}  // namespace headroom::server::openai
