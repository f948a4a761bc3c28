// Per-request sampling parameters, named and defaulted as vLLM names them
// (docs/feature-bar.md), and their validation. Sampling itself is in
// runtime/sampling/sampler.h.
#ifndef HEADROOM_RUNTIME_SAMPLING_SAMPLING_PARAMS_H_
#define HEADROOM_RUNTIME_SAMPLING_SAMPLING_PARAMS_H_

#include <cstdint>

#include "absl/status/status.h"

namespace headroom::runtime {

// The most top-n log-probabilities a request may ask for per token (vLLM's
// default max_logprobs is 20).
inline constexpr int kMaxLogprobs = 20;

struct SamplingParams {
  // Logits are divided by this before the softmax; 0 means greedy (argmax),
  // which ignores every filter below and the seed.
  float temperature = 1.0f;
  // Keep only the k most probable tokens; 0 turns the filter off. A k larger
  // than the vocabulary keeps everything.
  int top_k = 0;
  // Keep the smallest set of most probable tokens whose mass is >= top_p;
  // 1 turns the filter off.
  float top_p = 1.0f;
  // Drop tokens whose probability is < min_p * (the largest probability);
  // 0 turns the filter off.
  float min_p = 0.0f;
  // Penalties (formulas in runtime/sampling/sampler.h at ApplyPenalties): 1, 0
  // and 0 are neutral.
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // Keys the counter-based random stream: the same seed and draw index give
  // the same token (runtime/sampling/sampler.h). A request without a seed
  // should get a fresh random one from the engine.
  uint64_t seed = 0;
  // How many of the most probable tokens to report per generated token with
  // their log-probabilities; 0 reports none. At most kMaxLogprobs.
  int logprobs = 0;
};

// OK when every field is in range for a model with `vocab_size` tokens, else
// InvalidArgument whose message starts with the offending field's name and
// shows the value, e.g. "temperature must be >= 0, got -1". Ranges (NaN fails
// all of them): temperature finite and >= 0; top_k >= 0 (above the vocabulary
// is fine: it is clamped); top_p in (0, 1]; min_p in [0, 1];
// repetition_penalty finite and > 0; presence_penalty and frequency_penalty
// in [-2, 2]; logprobs in [0, kMaxLogprobs]; vocab_size > 0.
absl::Status ValidateSamplingParams(const SamplingParams& params,
                                    int vocab_size);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_SAMPLING_SAMPLING_PARAMS_H_
