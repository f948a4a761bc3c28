// SequenceRunner: one sequence through a Backend on pages 0..k-1, for tools,
// tests and perplexity (the server's engine assigns pages itself).
#ifndef HEADROOM_RUNTIME_SEQUENCE_RUNNER_H_
#define HEADROOM_RUNTIME_SEQUENCE_RUNNER_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "runtime/backend.h"

namespace headroom::runtime {

class SequenceRunner {
 public:
  // `chunk_size` bounds the tokens of one forward step (0: no bound).
  explicit SequenceRunner(Backend* backend, int chunk_size = 0);

  // Appends `ids` at the end of the sequence. `logits` gets [1, vocab] for
  // the last token, or [ids.size(), vocab] when `all_logits`.
  absl::Status Append(absl::Span<const int> ids, bool all_logits,
                      std::vector<float>* logits);
  int length() const { return length_; }
  // Starts a new sequence (the pages are reused).
  void Reset() { length_ = 0; }

 private:
  Backend* backend_;
  int chunk_size_;
  int length_ = 0;
};

// Index of the largest value (the first on ties), as llama2.c's argmax.
int Argmax(absl::Span<const float> values);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_SEQUENCE_RUNNER_H_
