// From a headroom.v1.GenerateRequest to the engine's GenerateRequest: every
// check a request must pass before it may take a tenant's quota, in one
// place for every front end.
//
//   auto request = BuildEngineRequest(proto, tokenizer, engine.limits());
//   if (!request.ok()) return request.status();  // INVALID_ARGUMENT ...
//   ... tenant quotas, then engine.Submit(*std::move(request), ...)
//
// Order: the prompt's size in bytes (before anything reads it, so a huge
// prompt costs nothing), the proto's own fields (UTF-8, ranges), tokenizing,
// then the engine's checks (context, vocabulary, sampling ranges, and
// whether the request could ever fit the KV pool).
#ifndef HEADROOM_SERVER_REQUEST_VALIDATION_H_
#define HEADROOM_SERVER_REQUEST_VALIDATION_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "headroom/v1/headroom.pb.h"
#include "runtime/tokenizers/tokenizer.h"
#include "server/engine/request.h"
#include "server/engine/request_limits.h"

namespace headroom::server {

// max_tokens when a request leaves it unset.
inline constexpr int kDefaultMaxTokens = 16;

// Checks UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
bool IsValidUtf8(const std::string& text);

// The proto-level checks (UTF-8, proto ranges), InvalidArgument naming the
// field.
absl::Status ValidateGenerateRequest(const v1::GenerateRequest& request);

// All of the checks above, in order, and the engine request they give.
// `seed` is used when the request has none, `default_max_tokens` when it has
// no max_tokens (0: the rest of the context after the prompt, at least 1);
// `add_bos` puts the tokenizer's BOS before the prompt.
// Tenant and priority are the caller's to set.
absl::StatusOr<GenerateRequest> BuildEngineRequest(
    const v1::GenerateRequest& request, const runtime::Tokenizer& tokenizer,
    const RequestLimits& limits, uint64_t seed,
    int default_max_tokens = kDefaultMaxTokens, bool add_bos = true);

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_REQUEST_VALIDATION_H_
