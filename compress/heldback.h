// Deciding between whole-model candidates on calibration lines held back
// from the statistics (`auto`, `--kv-budget`): each candidate's per-token
// NLL there, paired differences with standard errors clustered by line, and
// the rule for weak evidence (docs/compression.md, "auto").
#ifndef HEADROOM_COMPRESS_HELDBACK_H_
#define HEADROOM_COMPRESS_HELDBACK_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compress/calibration.h"
#include "compress/perplexity.h"
#include "compress/projections.h"
#include "runtime/backend.h"
#include "runtime/model/model_weights.h"
#include "runtime/tokenizers/tokenizer.h"

namespace headroom::compress {

// Per-token NLL (PerplexityResult with token_nll) of the model that
// `projections` make of the original, on the held-back lines.
using HeldbackScorer =
    std::function<absl::StatusOr<PerplexityResult>(const Projections&)>;

// Applies each candidate to a copy of `original` and evaluates `heldback`
// on the CPU backend. `original` and `tokenizer` must outlive the scorer.
HeldbackScorer MakeHeldbackScorer(const runtime::ModelWeights& original,
                                  const runtime::Tokenizer& tokenizer,
                                  std::vector<std::string> heldback,
                                  runtime::BackendOptions options);

// The attention inputs of every layer of the model `projections` make,
// for the first `lengths.size()` of `texts`, each cut to lengths[i] tokens
// (BOS included): what a refit on propagated inputs fits on.
using InputRecorder =
    std::function<absl::StatusOr<ActivationSample>(const Projections&)>;
InputRecorder MakeInputRecorder(const runtime::ModelWeights& original,
                                const runtime::Tokenizer& tokenizer,
                                std::vector<std::string> texts,
                                std::vector<int> lengths,
                                runtime::BackendOptions options);

// mean over tokens of a - b and its standard error, clustered by sequence
// (tokens of one line are not independent): SE^2 = sum_s (sum_{t in s}
// (d_t - mean))^2 / N^2. Both must cover the same tokens.
struct PairedDifference {
  double mean = 0.0;
  double se = 0.0;
};
absl::StatusOr<PairedDifference> PairedNllDifference(const PerplexityResult& a,
                                                     const PerplexityResult& b);

struct ScoredCandidate {
  std::string name;
  PerplexityResult nll;       // on the held-back lines, per token
  double output_error = 0.0;  // mean over layers, held-back sample
  std::vector<int> kv_heads;  // per layer
};

struct Decision {
  size_t chosen = 0;
  bool weak_evidence = false;
  std::string json;  // the record stored in the projections metadata
};

struct DecisionRule {
  // A candidate is indistinguishable from the lowest-NLL one when its mean
  // NLL excess is at most z standard errors of the paired difference.
  double z = 2.0;
  // Below this many held-back tokens the record carries a warning.
  int64_t min_tokens = 4096;
};

// The candidate with the lowest held-back NLL, unless others are within
// z SE of it: then, among those, the lowest layer-output error ("weak
// evidence", said in the record). `context` (a JSON object) is merged into
// the record.
absl::StatusOr<Decision> Decide(const std::vector<ScoredCandidate>& candidates,
                                const DecisionRule& rule,
                                const std::string& context_json);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_HELDBACK_H_
