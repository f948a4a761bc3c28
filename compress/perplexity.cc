#include "compress/perplexity.h"

#include <algorithm>
#include <cmath>

#include "runtime/sequence_runner.h"

namespace headroom::compress {

double PerplexityResult::perplexity() const {
  return std::exp(nll_per_token());
}

absl::StatusOr<PerplexityResult> EvaluatePerplexity(
    runtime::Backend& backend, const runtime::Tokenizer& tokenizer,
    const std::vector<std::string>& texts, bool keep_token_nll) {
  const runtime::ModelConfig& c = backend.config();
  // Bounds the logits buffer: chunk * vocab floats per step.
  const int chunk =
      std::max(1, std::min(c.max_seq_len, (1 << 22) / c.vocab_size));
  runtime::SequenceRunner runner(&backend, chunk);
  PerplexityResult result;
  std::vector<float> logits;
  for (const std::string& text : texts) {
    std::vector<int> ids = tokenizer.Encode(text, /*add_bos=*/true);
    if (static_cast<int>(ids.size()) > c.max_seq_len) ids.resize(c.max_seq_len);
    if (ids.size() < 2) continue;
    runner.Reset();
    if (auto s = runner.Append(ids, /*all_logits=*/true, &logits); !s.ok())
      return s;
    // -log softmax(logits[i])[ids[i+1]], in double.
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const float* row = logits.data() + i * c.vocab_size;
      const float max = *std::max_element(row, row + c.vocab_size);
      double sum = 0.0;
      for (int v = 0; v < c.vocab_size; ++v)
        sum += std::exp(double{row[v]} - max);
      const double nll = std::log(sum) + max - row[ids[i + 1]];
      result.nll_sum += nll;
      if (keep_token_nll) result.token_nll.push_back(nll);
    }
    result.predicted_tokens += static_cast<int64_t>(ids.size()) - 1;
    if (keep_token_nll) {
      result.sequence_tokens.push_back(static_cast<int64_t>(ids.size()) - 1);
    }
    ++result.sequences;
  }
  return result;
}

}  // namespace headroom::compress
