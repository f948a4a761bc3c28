#include "server/engine/request_limits.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/sampling_params.h"

namespace headroom::server {

int64_t MaxTokenBytes(const runtime::Tokenizer& tokenizer) {
  size_t longest = 1;
  // prev -1 is not BOS, so a piece keeps its leading space.
  for (int id = 0; id < tokenizer.vocab_size(); ++id) {
    longest = std::max(longest, tokenizer.DecodeToken(-1, id).size());
  }
  return static_cast<int64_t>(longest);
}

int64_t DefaultMaxPromptBytes(const runtime::Tokenizer& tokenizer,
                              int max_seq_len) {
  const int64_t per_token = MaxTokenBytes(tokenizer);
  const int64_t context = std::max(1, max_seq_len);
  if (per_token > std::numeric_limits<int64_t>::max() / context) {
    return std::numeric_limits<int64_t>::max();
  }
  return per_token * context;
}

absl::Status CheckPromptBytes(const char* field, int64_t bytes,
                              const RequestLimits& limits) {
  if (limits.max_prompt_bytes > 0 && bytes > limits.max_prompt_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", bytes, " bytes is more than the limit of ",
        limits.max_prompt_bytes,
        " (engine.max_prompt_bytes; by default the context of ",
        limits.max_seq_len, " tokens times the longest token's bytes)"));
  }
  return absl::OkStatus();
}

namespace {

absl::Status CheckPromptIds(const std::vector<int>& ids,
                            const RequestLimits& limits) {
  if (ids.empty()) return absl::InvalidArgumentError("prompt is empty");
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= limits.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompt_ids[", i, "] = ", ids[i], " is outside the vocabulary"));
    }
  }
  const int64_t n = static_cast<int64_t>(ids.size());
  if (n >= limits.max_seq_len) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt has ", n, " tokens; the context is ", limits.max_seq_len,
        " (room for at least one more needed)"));
  }
  return absl::OkStatus();
}

absl::Status CheckLengths(const GenerateRequest& r, int64_t n,
                          const RequestLimits& limits) {
  if (r.max_tokens <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens must be >= 1, got ", r.max_tokens));
  }
  // 64-bit: max_tokens may be INT32_MAX.
  if (n + int64_t{r.max_tokens} > limits.max_seq_len) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens ", r.max_tokens, " plus the prompt's ", n,
                     " tokens exceed the context of ", limits.max_seq_len));
  }
  if (r.min_tokens < 0 || r.min_tokens > r.max_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "min_tokens must be in [0, max_tokens], got ", r.min_tokens));
  }
  return absl::OkStatus();
}

absl::Status CheckStops(const GenerateRequest& r, const RequestLimits& limits) {
  for (size_t i = 0; i < r.stop.size(); ++i) {
    if (r.stop[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("stop[", i, "] is an empty string"));
    }
  }
  for (size_t i = 0; i < r.stop_token_ids.size(); ++i) {
    const int t = r.stop_token_ids[i];
    if (t < 0 || t >= limits.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stop_token_ids[", i, "] = ", t, " is outside the vocabulary"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRequest(const GenerateRequest& r,
                             const RequestLimits& limits) {
  if (limits.block_size < 1) {
    return absl::InternalError("request limits: block_size must be >= 1");
  }
  if (auto s = CheckPromptIds(r.prompt_ids, limits); !s.ok()) return s;
  const int64_t n = static_cast<int64_t>(r.prompt_ids.size());
  if (auto s = CheckLengths(r, n, limits); !s.ok()) return s;
  if (auto s = CheckStops(r, limits); !s.ok()) return s;
  if (auto s = runtime::ValidateSamplingParams(r.sampling, limits.vocab_size);
      !s.ok()) {
    return s;
  }
  const int64_t pages = WorstCasePages(r, limits);
  if (pages > limits.num_blocks) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the request needs ", pages, " KV pages (prompt ", n, " + max_tokens ",
        r.max_tokens, "); the pool has ", limits.num_blocks));
  }
  return absl::OkStatus();
}

int64_t WorstCasePages(const GenerateRequest& r, const RequestLimits& limits) {
  return BlocksFor(
      static_cast<int64_t>(r.prompt_ids.size()) + int64_t{r.max_tokens},
      limits.block_size);
}

}  // namespace headroom::server
