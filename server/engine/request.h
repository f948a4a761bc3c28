// What a client asks the engine for, and what the engine reports back.
#ifndef HEADROOM_SERVER_ENGINE_REQUEST_H_
#define HEADROOM_SERVER_ENGINE_REQUEST_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/sampling/sampler.h"
#include "runtime/sampling/sampling_params.h"

namespace headroom::server {

struct GenerateRequest {
  std::string prompt;           // tokenized with BOS unless prompt_ids set
  std::vector<int> prompt_ids;  // used as is when not empty
  runtime::SamplingParams sampling;
  int max_tokens = 16;            // >= 1
  int min_tokens = 0;             // EOS / stop ignored before this many
  std::vector<std::string> stop;  // stop strings (not included in the text)
  std::vector<int> stop_token_ids;
  bool ignore_eos = false;
  int priority = 0;  // higher first
  std::string tenant = "default";
  // Requests share cached prefix pages only with the same salt (the
  // service gives each tenant, or cache group, its own).
  std::string cache_salt;
};

enum class FinishReason { kLength, kEos, kStopSequence, kCancelled, kError };
const char* FinishReasonName(FinishReason reason);

struct Usage {
  int prompt_tokens = 0;
  // Prompt tokens found in the prefix cache at admission (not computed).
  int cached_tokens = 0;
  bool scheduled = false;  // admitted at least once (cached_tokens known)
  int completion_tokens = 0;
  double queue_seconds = 0.0;        // submit -> first scheduled
  double time_to_first_token = 0.0;  // submit -> first token
};

struct EngineEvent {
  int64_t request_id = 0;
  std::string text;            // new text (complete UTF-8 only)
  std::vector<int> token_ids;  // tokens generated since the last event
  std::vector<runtime::SampledToken> logprobs;  // when requested, per token
  bool finished = false;
  FinishReason finish_reason = FinishReason::kLength;
  std::string error;  // kError only
  Usage usage;        // on the final event
};

// Called on the engine thread: must not block or call back into the engine.
using EventCallback = std::function<void(const EngineEvent&)>;

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_ENGINE_REQUEST_H_
