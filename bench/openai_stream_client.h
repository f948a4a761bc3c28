// headroom-bench's client of the OpenAI-compatible API: one streamed
// POST /v1/completions over its own loopback-or-LAN TCP connection
// (HTTP/1.1, chunked, server-sent events), timed as the gRPC stream is:
// send -> first event with text, gaps between such events, and the usage
// of the include_usage chunk. Blocking sockets: one thread per stream, as
// the gRPC mode has.
#ifndef HEADROOM_BENCH_OPENAI_STREAM_CLIENT_H_
#define HEADROOM_BENCH_OPENAI_STREAM_CLIENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "bench/latency_stats.h"
#include "nlohmann/json.hpp"

namespace headroom::bench {

// GET /v1/models: the first model's id.
absl::StatusOr<std::string> OpenAiModelName(const std::string& addr,
                                            const std::string& api_key,
                                            double timeout_s);

// Streams `body` (a completions request; stream and include_usage are set
// here) to addr's /v1/completions. `status` is "OK" or "HTTP_<code>" /
// "UNAVAILABLE" (no connection) / "DEADLINE_EXCEEDED" (timeout_s > 0).
RequestRecord RunOpenAiStream(const std::string& addr,
                              const std::string& api_key, nlohmann::json body,
                              double timeout_s);

}  // namespace headroom::bench

#endif  // HEADROOM_BENCH_OPENAI_STREAM_CLIENT_H_
