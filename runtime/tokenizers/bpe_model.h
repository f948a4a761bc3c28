// The BPE model of tokenizer.json: a vocabulary of token strings and a list
// of merges, where a lower position in the list (rank) merges first.
//
// A word is encoded as the tokenizers library defines it: each character
// becomes the token spelled by it; a character that is not in the
// vocabulary becomes its UTF-8 bytes as <0xNN> tokens when byte_fallback is
// set (and all of them exist), else the unknown token (consecutive unknowns
// fused into one when fuse_unk is set), else it is dropped. Then, while any
// adjacent pair of tokens has a merge, the pair of lowest rank (the leftmost
// of equal ones) is replaced by the merged token. With ignore_merges a word
// that is itself in the vocabulary is that one token.
#ifndef HEADROOM_RUNTIME_TOKENIZERS_BPE_MODEL_H_
#define HEADROOM_RUNTIME_TOKENIZERS_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace headroom::runtime {

struct BpeConfig {
  std::vector<std::pair<std::string, int64_t>> vocab;       // token, id
  std::vector<std::pair<std::string, std::string>> merges;  // rank order
  std::optional<std::string> unk_token;
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;
};

class BpeModel {
 public:
  // The largest id accepted: the vocabulary is a dense array up to it, so a
  // file cannot make it allocate more than a few tables of 2M strings
  // (today's largest vocabularies have about 256k tokens).
  static constexpr int64_t kMaxId = (int64_t{1} << 21) - 1;

  // InvalidArgument naming the field (model.vocab, model.merges[i],
  // model.unk_token) for ids out of [0, kMaxId], a token spelled twice,
  // merges whose parts or result are not in the vocabulary, and an unknown
  // token that is not in it.
  static absl::StatusOr<BpeModel> Create(BpeConfig config);

  // Appends the ids of `word` to `out`.
  void EncodeWord(std::string_view word, std::vector<int>* out) const;

  // The id of `token`, or -1.
  int TokenId(std::string_view token) const;
  // The token spelled by `id`; "" for ids that are not in the vocabulary.
  const std::string& Token(int id) const;
  // One more than the largest id.
  int size() const { return static_cast<int>(tokens_.size()); }
  int unk_id() const { return unk_id_; }

 private:
  struct Merge {
    int rank;
    int merged;
  };
  static uint64_t PairKey(int a, int b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
           static_cast<uint32_t>(b);
  }

  std::vector<std::string> tokens_;            // [size] by id, "" for holes
  absl::flat_hash_map<std::string, int> ids_;  // string_view lookups
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::array<int, 256> byte_ids_{};  // <0xNN> ids, -1 when absent
  int unk_id_ = -1;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_BPE_MODEL_H_
