#include "runtime/batch.h"

#include "absl/strings/str_cat.h"

namespace headroom::runtime {

int Batch::num_outputs() const {
  int n = 0;
  for (uint8_t w : want_logits) n += w;
  return n;
}

void Batch::AddTokens(int seq, const int* ids, int count, int start_pos,
                      bool logits_for_last, bool logits_for_all) {
  for (int i = 0; i < count; ++i) {
    token_ids.push_back(ids[i]);
    positions.push_back(start_pos + i);
    seq_ids.push_back(seq);
    want_logits.push_back(logits_for_all ||
                          (logits_for_last && i == count - 1));
  }
}

absl::Status Batch::Validate(const ModelConfig& config, int block_size,
                             int num_blocks) const {
  const size_t n = token_ids.size();
  if (positions.size() != n || seq_ids.size() != n || want_logits.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch: token_ids (", n, "), positions (", positions.size(),
        "), seq_ids (", seq_ids.size(), ") and want_logits (",
        want_logits.size(), ") must have the same length"));
  }
  for (size_t i = 0; i < n; ++i) {
    if (token_ids[i] < 0 || token_ids[i] >= config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "batch: token_ids[", i, "] = ", token_ids[i],
          " is outside the vocabulary [0, ", config.vocab_size, ")"));
    }
    if (positions[i] < 0 || positions[i] >= config.max_seq_len) {
      return absl::InvalidArgumentError(absl::StrCat(
          "batch: positions[", i, "] = ", positions[i],
          " is outside the context [0, ", config.max_seq_len, ")"));
    }
    const int s = seq_ids[i];
    if (s < 0 || s >= static_cast<int>(block_tables.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch: seq_ids[", i, "] = ", s, " has no block table (",
                       block_tables.size(), " sequences)"));
    }
    if (i > 0 && seq_ids[i - 1] == s && positions[i] != positions[i - 1] + 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch: positions of sequence ", s,
                       " are not consecutive at token ", i));
    }
    const auto& table = block_tables[s];
    const size_t blocks_needed = positions[i] / block_size + 1;
    if (table.size() < blocks_needed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "batch: block_tables[", s, "] has ", table.size(),
          " blocks, position ", positions[i], " needs ", blocks_needed));
    }
  }
  for (size_t s = 0; s < block_tables.size(); ++s) {
    for (size_t b = 0; b < block_tables[s].size(); ++b) {
      const int id = block_tables[s][b];
      if (id < 0 || id >= num_blocks) {
        return absl::InvalidArgumentError(
            absl::StrCat("batch: block_tables[", s, "][", b, "] = ", id,
                         " is outside the pool [0, ", num_blocks, ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace headroom::runtime
