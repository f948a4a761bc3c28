// RequestLimits: what one engine can serve, and the checks a request must
// pass against it before it is queued. Both the engine (Submit) and the
// front ends (before they take a tenant's quota) call these, so a request
// that is invalid is refused as INVALID_ARGUMENT whatever else is wrong
// with it, and every figure computed from request fields is 64-bit.
//
//   RequestLimits limits = engine.limits();
//   if (auto s = CheckPromptBytes(text.size(), limits); !s.ok()) ...
//   if (auto s = ValidateRequest(request, limits); !s.ok()) ...
#ifndef HEADROOM_SERVER_ENGINE_REQUEST_LIMITS_H_
#define HEADROOM_SERVER_ENGINE_REQUEST_LIMITS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "runtime/tokenizers/tokenizer.h"
#include "server/engine/request.h"

namespace headroom::server {

struct RequestLimits {
  int vocab_size = 0;
  int max_seq_len = 0;     // the context: prompt + output tokens
  int block_size = 16;     // tokens per KV page
  int64_t num_blocks = 0;  // KV pages in the whole pool
  // Prompt (and Tokenize) text longer than this is refused before it is
  // tokenized. DefaultMaxPromptBytes gives the bound that no prompt that
  // fits the context can exceed.
  int64_t max_prompt_bytes = 0;
};

// KV pages that hold `tokens` tokens (ceil(tokens / block_size)).
inline int64_t BlocksFor(int64_t tokens, int block_size) {
  return (tokens + block_size - 1) / block_size;
}

// The most bytes of text one token of `tokenizer` can stand for: the
// longest DecodeToken over the vocabulary (at least 1).
int64_t MaxTokenBytes(const runtime::Tokenizer& tokenizer);

// context x MaxTokenBytes: a text longer than this tokenizes to more tokens
// than the context holds (each token covers at most MaxTokenBytes of it),
// so refusing it before tokenizing turns away no prompt that could be
// served. Saturates instead of overflowing.
int64_t DefaultMaxPromptBytes(const runtime::Tokenizer& tokenizer,
                              int max_seq_len);

// InvalidArgument naming `field` when `bytes` exceeds max_prompt_bytes
// (0 = no limit).
absl::Status CheckPromptBytes(const char* field, int64_t bytes,
                              const RequestLimits& limits);

// Every check of a request whose prompt is tokenized (prompt_ids set):
// InvalidArgument naming the field (vocabulary, context, max_tokens,
// min_tokens, stop strings and ids, sampling ranges), then
// ResourceExhausted when its worst case (prompt + max_tokens) needs more
// KV pages than the whole pool has, which no waiting would fix.
absl::Status ValidateRequest(const GenerateRequest& request,
                             const RequestLimits& limits);

// Worst-case KV pages of a validated request: prompt + max_tokens.
int64_t WorstCasePages(const GenerateRequest& request,
                       const RequestLimits& limits);

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_ENGINE_REQUEST_LIMITS_H_
