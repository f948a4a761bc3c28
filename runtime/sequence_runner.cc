#include "runtime/sequence_runner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace headroom::runtime {

SequenceRunner::SequenceRunner(Backend* backend, int chunk_size)
    : backend_(backend), chunk_size_(chunk_size) {}

absl::Status SequenceRunner::Append(absl::Span<const int> ids, bool all_logits,
                                    std::vector<float>* logits) {
  const ModelConfig& c = backend_->config();
  const int n = static_cast<int>(ids.size());
  if (n == 0) {
    return absl::InvalidArgumentError("sequence runner: no tokens to append");
  }
  if (length_ + n > c.max_seq_len) {
    return absl::OutOfRangeError(absl::StrCat("sequence runner: ", length_ + n,
                                              " tokens exceed the context of ",
                                              c.max_seq_len));
  }
  const int bs = backend_->block_size();
  const int blocks = (length_ + n + bs - 1) / bs;
  if (blocks > backend_->num_blocks()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("sequence runner: ", length_ + n, " tokens need ", blocks,
                     " KV pages, the pool has ", backend_->num_blocks()));
  }
  Batch batch;
  batch.block_tables.emplace_back(blocks);
  for (int b = 0; b < blocks; ++b) batch.block_tables[0][b] = b;
  logits->clear();
  std::vector<float> step_logits;
  const int step = chunk_size_ > 0 ? chunk_size_ : n;
  for (int begin = 0; begin < n; begin += step) {
    const int count = std::min(step, n - begin);
    batch.token_ids.clear();
    batch.positions.clear();
    batch.seq_ids.clear();
    batch.want_logits.clear();
    batch.AddTokens(0, ids.data() + begin, count, length_,
                    /*logits_for_last=*/begin + count == n, all_logits);
    if (auto s = backend_->Forward(batch, &step_logits); !s.ok()) return s;
    logits->insert(logits->end(), step_logits.begin(), step_logits.end());
    length_ += count;
  }
  return absl::OkStatus();
}

int Argmax(absl::Span<const float> values) {
  return static_cast<int>(std::max_element(values.begin(), values.end()) -
                          values.begin());
}

}  // namespace headroom::runtime
