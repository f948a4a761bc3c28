#include "runtime/sampling/sampling_params.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace headroom::runtime {
namespace {

// Every check below is written as "the value is in range" so that NaN, for
// which every comparison is false, falls out as invalid without a separate
// std::isnan test per field.
absl::Status Invalid(const char* field, const char* requirement, double value) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be ", requirement, ", got ", value));
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& params,
                                    int vocab_size) {
  if (!(vocab_size > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocab_size must be > 0, got ", vocab_size));
  }
  if (!(params.temperature >= 0.0f && std::isfinite(params.temperature))) {
    return Invalid("temperature", ">= 0 and finite", params.temperature);
  }
  if (!(params.top_k >= 0)) {
    return Invalid("top_k", ">= 0 (0 disables it)", params.top_k);
  }
  if (!(params.top_p > 0.0f && params.top_p <= 1.0f)) {
    return Invalid("top_p", "in (0, 1]", params.top_p);
  }
  if (!(params.min_p >= 0.0f && params.min_p <= 1.0f)) {
    return Invalid("min_p", "in [0, 1]", params.min_p);
  }
  if (!(params.repetition_penalty > 0.0f &&
        std::isfinite(params.repetition_penalty))) {
    return Invalid("repetition_penalty", "> 0 and finite",
                   params.repetition_penalty);
  }
  if (!(params.presence_penalty >= -2.0f && params.presence_penalty <= 2.0f)) {
    return Invalid("presence_penalty", "in [-2, 2]", params.presence_penalty);
  }
  if (!(params.frequency_penalty >= -2.0f &&
        params.frequency_penalty <= 2.0f)) {
    return Invalid("frequency_penalty", "in [-2, 2]", params.frequency_penalty);
  }
  if (!(params.logprobs >= 0 && params.logprobs <= kMaxLogprobs)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "logprobs must be in [0, ", kMaxLogprobs, "], got ", params.logprobs));
  }
  return absl::OkStatus();
}

}  // namespace headroom::runtime
