// Sampling one token from a row of logits: penalties, temperature, top-k,
// top-p and min-p, and a counter-based random draw, so that the token depends
// only on (logits, params, penalty state, seed, draw index): never on which
// other sequences share the batch, on batch order, or on a preemption that
// recomputes the sequence.
//
// Pipeline of SampleToken (vLLM's order and formulas):
//   1. penalties on a copy of the logits (ApplyPenalties);
//   2. temperature 0: argmax, lowest index on ties; done;
//   3. z_i = logit_i / temperature; p_i = exp(z_i - max z) / sum_j (same),
//      in double;
//   4. top_k: keep the k largest p (ties at the boundary: lower index first,
//      exactly k kept);
//   5. top_p: on the distribution renormalised after top_k, keep the smallest
//      prefix of the tokens sorted by descending p (ties: lower index first)
//      whose mass is >= top_p; at least one token;
//   6. min_p: drop tokens with p < min_p * p_max (p_max is never dropped by 4
//      or 5, and the ratio p / p_max is the same before and after
//      renormalising, so it does not matter which distribution it is taken
//      on);
//   7. renormalise the survivors (FilteredDistribution) and draw by inverse
//      CDF in token-index order with u = CounterUniform(seed, draw_index).
//
// Logits: NaN is treated as -infinity (never drawn). When no token has a
// finite positive probability (every logit -inf/NaN after penalties, or the
// largest is +inf), the sampler falls back to the argmax rule of step 2.
//
// Usage (per sequence):
//   PenaltyState state(prompt_ids);
//   for (int step = 0; ...; ++step) {
//     SampledToken t = SampleToken(logits_row, params, state,
//                                  /*draw_index=*/step);
//     state.AddOutputToken(t.token);
//   }
#ifndef HEADROOM_RUNTIME_SAMPLING_SAMPLER_H_
#define HEADROOM_RUNTIME_SAMPLING_SAMPLER_H_

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "absl/types/span.h"
#include "runtime/sampling/sampling_params.h"

namespace headroom::runtime {

struct TokenLogprob {
  int token;
  float logprob;
};

struct SampledToken {
  int token;
  // Log-probability of `token` under the RAW model distribution:
  // log_softmax of the logits as given, before penalties, temperature and
  // filters. This is what vLLM reports by default (logprobs_mode
  // "raw_logprobs"): it describes the model, not the request's sampling
  // settings, and stays comparable across requests.
  float logprob;
  // The params.logprobs (clamped to the vocabulary) highest raw
  // log-probabilities, descending; ties in lower-index-first order. Empty
  // when params.logprobs is 0.
  std::vector<TokenLogprob> top;
};

// How often each token occurred in the prompt and in the output so far: the
// input of the penalties. Sparse (only tokens seen are stored), so a step
// costs O(distinct tokens seen), not O(vocabulary). Negative ids are
// ignored; ids beyond the logits are ignored when the penalties are applied.
class PenaltyState {
 public:
  struct Counts {
    int prompt = 0;
    int output = 0;
  };

  PenaltyState() = default;
  explicit PenaltyState(absl::Span<const int> prompt_ids);

  void AddPromptToken(int id);
  void AddOutputToken(int id);

  int prompt_count(int id) const;
  int output_count(int id) const;
  // Every token seen (prompt or output), in no particular order.
  const std::unordered_map<int, Counts>& counts() const { return counts_; }

 private:
  std::unordered_map<int, Counts> counts_;
};

// Applies the penalties to `logits` in place, vLLM's formulas, per token t:
//   seen in the prompt OR the output (repetition penalty r):
//     logit_t = logit_t > 0 ? logit_t / r : logit_t * r
//   then, with c_t = number of times t occurs in the OUTPUT so far:
//     logit_t -= presence_penalty * (c_t > 0 ? 1 : 0)
//     logit_t -= frequency_penalty * c_t
// Prompt occurrences count only for the repetition penalty. Neutral values
// (r = 1, presence = frequency = 0) leave the logits unchanged.
void ApplyPenalties(absl::Span<float> logits, const SamplingParams& params,
                    const PenaltyState& state);

// The probabilities SampleToken draws from for these inputs (step 7 above):
// one entry per logit, zero for filtered tokens, summing to 1. Greedy
// (temperature 0) gives 1 at the argmax. Empty when `logits` is empty.
std::vector<double> FilteredDistribution(absl::Span<const float> logits,
                                         const SamplingParams& params,
                                         const PenaltyState& state);

// Samples one token (the pipeline above). `draw_index` numbers the draws of
// one random stream: use the sequence's output position (tokens generated so
// far), so that a sequence recomputed after preemption draws the same
// tokens. `params` is assumed valid (ValidateSamplingParams). Precondition:
// `logits` is not empty (an empty row gives token -1).
SampledToken SampleToken(absl::Span<const float> logits,
                         const SamplingParams& params,
                         const PenaltyState& state, uint64_t draw_index);

// The counter-based uniform number in [0, 1) of draw `draw_index` of the
// stream `seed`: a hash of the pair, with no state carried between draws.
// For a fixed seed, distinct draw indices give distinct 64-bit hashes (the
// mixing is a bijection of the index), of which the top 53 bits are used.
double CounterUniform(uint64_t seed, uint64_t draw_index);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_SAMPLING_SAMPLER_H_
