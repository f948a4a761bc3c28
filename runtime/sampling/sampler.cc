#include "runtime/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace headroom::runtime {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// splitmix64's output function (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", 2014): xor-shift / multiply rounds that
// form a bijection on 64-bit words with good avalanche (every input bit
// flips each output bit with probability ~1/2).
uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Orders token ids by descending logit, then ascending id: "most probable
// first, lower index first on ties". A strict weak order as long as no logit
// is NaN (callers replace NaN by -inf first).
struct ByLogitDesc {
  const std::vector<float>* logits;
  bool operator()(int a, int b) const {
    const float la = (*logits)[a];
    const float lb = (*logits)[b];
    if (la != lb) return la > lb;
    return a < b;
  }
};

// The logits after penalties, with NaN replaced by -inf so that every later
// comparison is a total order and NaN tokens are never drawn.
std::vector<float> PreparedLogits(absl::Span<const float> logits,
                                  const SamplingParams& params,
                                  const PenaltyState& state) {
  std::vector<float> out(logits.begin(), logits.end());
  ApplyPenalties(absl::MakeSpan(out), params, state);
  for (float& v : out) {
    if (std::isnan(v)) v = kNegInf;
  }
  return out;
}

// Index of the largest value, the lowest index on ties (0 when all are -inf).
int Argmax(const std::vector<float>& v) {
  int best = 0;
  for (int i = 1; i < static_cast<int>(v.size()); ++i) {
    if (v[i] > v[best]) best = i;
  }
  return best;
}

// Steps 2-7 of the pipeline in sampler.h on prepared (penalised, NaN-free,
// non-empty) logits: the normalised distribution to draw from.
std::vector<double> Filter(const std::vector<float>& logits,
                           const SamplingParams& params) {
  const int n = static_cast<int>(logits.size());
  const int best = Argmax(logits);
  const double max_logit = logits[best];
  std::vector<double> w(n, 0.0);
  if (params.temperature == 0.0f || !std::isfinite(max_logit)) {
    w[best] = 1.0;
    return w;
  }

  // Softmax numerators scaled so that the largest is exactly 1:
  //   w_i = exp((l_i - l_max) / T) = exp(z_i - z_max),   p_i = w_i / sum_j w_j.
  // Subtracting the maximum first keeps exp from overflowing however small T
  // is (the exponent is <= 0; in double, l / T stays finite for any float l
  // and T >= the smallest float). Only ratios matter to every filter below,
  // so normalisation waits until the end.
  const double temperature = params.temperature;
  for (int i = 0; i < n; ++i) {
    w[i] = std::exp((static_cast<double>(logits[i]) - max_logit) / temperature);
  }
  const ByLogitDesc order{&logits};

  // top_k: keep the k first tokens in `order`.
  if (params.top_k > 0 && params.top_k < n) {
    std::vector<int> ids(n);
    for (int i = 0; i < n; ++i) ids[i] = i;
    std::nth_element(ids.begin(), ids.begin() + params.top_k, ids.end(), order);
    for (auto it = ids.begin() + params.top_k; it != ids.end(); ++it) {
      w[*it] = 0.0;
    }
  }

  // top_p on the distribution renormalised after top_k: walk the survivors
  // in `order`, accumulating mass, until it reaches top_p * (their total).
  // Sorting every token would cost O(n log n) per step; the mass is usually
  // reached within a few dozen tokens, so sort a growing prefix instead
  // (64, 256, 1024, ...): each round partial-sorts only the unsorted rest.
  if (params.top_p < 1.0f) {
    std::vector<int> ids;
    double total = 0.0;
    for (int i = 0; i < n; ++i) {
      if (w[i] > 0.0) {
        ids.push_back(i);
        total += w[i];
      }
    }
    const double threshold = static_cast<double>(params.top_p) * total;
    size_t kept = 0;
    size_t sorted = 0;
    double mass = 0.0;
    bool reached = false;
    while (!reached && sorted < ids.size()) {
      const size_t end = std::min(ids.size(), std::max<size_t>(64, sorted * 4));
      std::partial_sort(ids.begin() + sorted, ids.begin() + end, ids.end(),
                        order);
      for (; kept < end; ++kept) {
        mass += w[ids[kept]];
        if (mass >= threshold) {
          ++kept;  // this token is the one that reaches the mass: keep it
          reached = true;
          break;
        }
      }
      sorted = end;
    }
    // If rounding kept the mass just below the threshold, everything stays.
    for (size_t j = kept; j < ids.size(); ++j) w[ids[j]] = 0.0;
  }

  // min_p: p_i < min_p * p_max  <=>  w_i < min_p * w_max = min_p. w_max is
  // exactly exp(0) = 1, was kept by both filters above (it is first in
  // `order`), and survives here since min_p <= 1.
  if (params.min_p > 0.0f) {
    const double min_ratio = params.min_p;
    for (int i = 0; i < n; ++i) {
      if (w[i] < min_ratio) w[i] = 0.0;
    }
  }

  double total = 0.0;
  for (double x : w) total += x;
  for (double& x : w) x /= total;  // total >= w[best] = 1
  return w;
}

}  // namespace

PenaltyState::PenaltyState(absl::Span<const int> prompt_ids) {
  for (int id : prompt_ids) AddPromptToken(id);
}

void PenaltyState::AddPromptToken(int id) {
  if (id >= 0) ++counts_[id].prompt;
}

void PenaltyState::AddOutputToken(int id) {
  if (id >= 0) ++counts_[id].output;
}

int PenaltyState::prompt_count(int id) const {
  auto it = counts_.find(id);
  return it == counts_.end() ? 0 : it->second.prompt;
}

int PenaltyState::output_count(int id) const {
  auto it = counts_.find(id);
  return it == counts_.end() ? 0 : it->second.output;
}

void ApplyPenalties(absl::Span<float> logits, const SamplingParams& params,
                    const PenaltyState& state) {
  const float r = params.repetition_penalty;
  const float presence = params.presence_penalty;
  const float frequency = params.frequency_penalty;
  if (r == 1.0f && presence == 0.0f && frequency == 0.0f) return;
  const int n = static_cast<int>(logits.size());
  // Each token's update depends only on its own counts, so the map's
  // iteration order does not matter.
  for (const auto& [id, counts] : state.counts()) {
    if (id >= n) continue;
    float& logit = logits[id];
    // Dividing a positive logit and multiplying a negative one both lower it
    // (for r > 1): a seen token becomes less likely whatever its sign.
    if (counts.prompt > 0 || counts.output > 0) {
      logit = logit > 0.0f ? logit / r : logit * r;
    }
    if (counts.output > 0) {
      logit -= presence;
      logit -= frequency * static_cast<float>(counts.output);
    }
  }
}

std::vector<double> FilteredDistribution(absl::Span<const float> logits,
                                         const SamplingParams& params,
                                         const PenaltyState& state) {
  if (logits.empty()) return {};
  return Filter(PreparedLogits(logits, params, state), params);
}

SampledToken SampleToken(absl::Span<const float> logits,
                         const SamplingParams& params,
                         const PenaltyState& state, uint64_t draw_index) {
  SampledToken result{-1, kNegInf, {}};
  if (logits.empty()) return result;
  const int n = static_cast<int>(logits.size());

  const std::vector<float> prepared = PreparedLogits(logits, params, state);
  if (params.temperature == 0.0f) {
    result.token = Argmax(prepared);  // greedy: no draw, the seed is unused
  } else {
    // Inverse CDF in token-index order: the first token whose cumulative
    // probability exceeds u. Rounding can leave the sum a hair below 1 with
    // u above it; the last surviving token then takes the draw.
    const std::vector<double> probs = Filter(prepared, params);
    const double u = CounterUniform(params.seed, draw_index);
    double cumulative = 0.0;
    for (int i = 0; i < n; ++i) {
      if (probs[i] <= 0.0) continue;
      cumulative += probs[i];
      result.token = i;
      if (u < cumulative) break;
    }
  }

  // Raw log-probabilities: log_softmax(l)_i = l_i - (m + log sum_j
  // exp(l_j - m)) with m = max_j l_j, in double; NaN counts as -inf. With no
  // finite maximum there is no distribution: the argmax gets 0, the rest
  // -inf.
  std::vector<float> raw(logits.begin(), logits.end());
  for (float& v : raw) {
    if (std::isnan(v)) v = kNegInf;
  }
  const int raw_best = Argmax(raw);
  const double m = raw[raw_best];
  double log_normaliser = m;
  if (std::isfinite(m)) {
    double sum = 0.0;
    for (float v : raw) sum += std::exp(static_cast<double>(v) - m);
    log_normaliser = m + std::log(sum);
  }
  auto raw_logprob = [&](int id) -> float {
    if (!std::isfinite(m)) return id == raw_best ? 0.0f : kNegInf;
    return static_cast<float>(static_cast<double>(raw[id]) - log_normaliser);
  };
  result.logprob = raw_logprob(result.token);

  const int top_n = std::min(std::max(params.logprobs, 0), n);
  if (top_n > 0) {
    std::vector<int> ids(n);
    for (int i = 0; i < n; ++i) ids[i] = i;
    std::partial_sort(ids.begin(), ids.begin() + top_n, ids.end(),
                      ByLogitDesc{&raw});
    result.top.reserve(top_n);
    for (int j = 0; j < top_n; ++j) {
      result.top.push_back({ids[j], raw_logprob(ids[j])});
    }
  }
  return result;
}

double CounterUniform(uint64_t seed, uint64_t draw_index) {
  // Two keyed rounds: the seed is hashed into a key, and the index, hashed on
  // its own, is xored with that key and hashed again. Mixing the seed and
  // the index separately keeps simple relations between pairs (such as
  // (s + d, i - 1) against (s, i) in a single-round seed + d * index scheme)
  // from giving equal outputs. The constants keep zero inputs away from
  // Mix64's fixed point at 0. For a fixed key the map index -> hash is a
  // composition of bijections, so draws never repeat within a stream.
  const uint64_t key = Mix64(seed ^ 0x9E3779B97F4A7C15ULL);
  const uint64_t bits = Mix64(key ^ Mix64(draw_index + 0xD1B54A32D192ED03ULL));
  // The top 53 bits as a double in [0, 1): exact, and never 1.
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace headroom::runtime
