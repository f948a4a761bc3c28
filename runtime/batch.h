// Batch: the tokens of one forward step, flat, for a ragged set of sequences
// (prefill chunks and decode tokens mixed).
#ifndef HEADROOM_RUNTIME_BATCH_H_
#define HEADROOM_RUNTIME_BATCH_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "runtime/model/model_config.h"

namespace headroom::runtime {

struct Batch {
  // Per token, [n_tokens] each. The tokens of one sequence are contiguous and
  // their positions consecutive; the step writes their K/V to the cache, and
  // token at position p attends to positions 0..p of its sequence.
  std::vector<int> token_ids;
  std::vector<int> positions;
  std::vector<int> seq_ids;          // index into block_tables
  std::vector<uint8_t> want_logits;  // 1: this token's logits are returned

  // Per sequence, [n_seqs][n_blocks]: page ids holding positions
  // [b * block_size, (b+1) * block_size) at entry b. Must cover every
  // position the step writes.
  std::vector<std::vector<int>> block_tables;

  int num_tokens() const { return static_cast<int>(token_ids.size()); }
  int num_outputs() const;

  // Appends `count` tokens of sequence `seq` starting at `start_pos`; logits
  // are requested for the last one when `logits_for_last`, or for all when
  // `logits_for_all`.
  void AddTokens(int seq, const int* ids, int count, int start_pos,
                 bool logits_for_last, bool logits_for_all = false);

  // Checks the batch against the model and the page pool (ids, positions,
  // contiguity, block coverage); the message names the field and index.
  absl::Status Validate(const ModelConfig& config, int block_size,
                        int num_blocks) const;
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_BATCH_H_
