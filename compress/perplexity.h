// Teacher-forced perplexity: each text is its own sequence, BOS + tokens,
// truncated to the context; every token after BOS is predicted.
#ifndef HEADROOM_COMPRESS_PERPLEXITY_H_
#define HEADROOM_COMPRESS_PERPLEXITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/backend.h"
#include "runtime/tokenizers/tokenizer.h"

namespace headroom::compress {

struct PerplexityResult {
  int64_t sequences = 0;
  int64_t predicted_tokens = 0;
  double nll_sum = 0.0;  // natural log
  // With keep_token_nll: each predicted token's NLL in text order, and the
  // number of predicted tokens of each evaluated sequence (for paired
  // comparisons with standard errors clustered by sequence).
  std::vector<double> token_nll;
  std::vector<int64_t> sequence_tokens;
  double nll_per_token() const {
    return predicted_tokens > 0 ? nll_sum / predicted_tokens : 0.0;
  }
  double perplexity() const;
};

// `backend` needs pages for one full context.
absl::StatusOr<PerplexityResult> EvaluatePerplexity(
    runtime::Backend& backend, const runtime::Tokenizer& tokenizer,
    const std::vector<std::string>& texts, bool keep_token_nll = false);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_PERPLEXITY_H_
