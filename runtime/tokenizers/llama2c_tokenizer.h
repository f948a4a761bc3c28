// llama2.c's tokenizer.bin (../shared/models/SOURCES.md): a BPE vocabulary
// of pieces and merge scores, encoded exactly as llama2.c's run.c does so that
// prompts give the same ids as the reference implementation.
//
// File format (little-endian): int32 max_token_length, then for each token
// float32 score, int32 byte length, that many bytes. The file carries no token
// count; the model's vocab_size gives it.
//
// Usage:
//   absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> tok =
//       Llama2cTokenizer::Load("tok512.bin", 512);
//   std::vector<int> ids = (*tok)->Encode("Once upon a time",
//   /*add_bos=*/true); std::string text = (*tok)->Decode(ids);  // "Once upon a
//   time"
#ifndef HEADROOM_RUNTIME_TOKENIZERS_LLAMA2C_TOKENIZER_H_
#define HEADROOM_RUNTIME_TOKENIZERS_LLAMA2C_TOKENIZER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizers/tokenizer.h"

namespace headroom::runtime {

class Llama2cTokenizer final : public Tokenizer {
 public:
  // Fixed by llama2.c's export: <unk> = 0, BOS = 1, EOS = 2, then the 256
  // byte-fallback pieces <0x00>..<0xFF> at ids 3..258.
  static constexpr int kUnkId = 0;
  static constexpr int kBosId = 1;
  static constexpr int kEosId = 2;
  static constexpr int kFirstByteId = 3;

 private:
  // Passkey: only the factories below can construct, yet std::make_unique
  // can reach the (public) constructor.
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  explicit Llama2cTokenizer(PrivateTag) {}

  // Reads `path`. `vocab_size` 0 takes every entry in the file; otherwise the
  // file must hold exactly `vocab_size` entries (InvalidArgument naming both
  // counts). NotFound when the file cannot be opened; DataLoss when it is
  // truncated or malformed (naming the file and the token index), or lacks
  // what encoding relies on: <unk>, BOS and EOS at ids 0..2, a " " piece
  // (the dummy prefix) and, when the vocabulary has any byte piece
  // "<0xXX>", all 256 of them at ids 3..258 (Encode emits byte + 3 without a
  // lookup, as run.c does). A vocabulary without any byte piece loads with
  // byte fallback off.
  static absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> Load(
      const std::string& path, int vocab_size);
  // The same from the file's bytes in memory; `name` only labels errors.
  static absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> FromBytes(
      std::string_view bytes, int vocab_size, std::string_view name);

  // run.c's encode(): optional BOS, a dummy-prefix " " when `text` is
  // non-empty, one token per UTF-8 code point (byte tokens when the code point
  // is not a piece), then greedy highest-score pair merges. Any bytes are
  // accepted (NUL and malformed UTF-8 included): with byte fallback, what is
  // not a piece becomes byte tokens, so Decode(Encode(text)) == text for
  // every input. Without byte pieces in the vocabulary, a code point that is
  // not a piece becomes one <unk> (id 0), as SentencePiece does without byte
  // fallback; run.c would emit byte + 3, which in such a vocabulary is an
  // unrelated character, so that is not copied.
  std::vector<int> Encode(std::string_view text, bool add_bos) const override;
  // run.c's decode(), except that BOS and EOS decode to "" (run.c prints
  // "\n<s>\n" for them) and ids outside [0, vocab_size) decode to "" rather
  // than reading out of bounds.
  std::string DecodeToken(int prev_id, int id) const override;

  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  // Whether unknown code points become byte tokens (the vocabulary has the
  // 256 byte pieces) or <unk>.
  bool byte_fallback() const { return byte_fallback_; }
  int bos_id() const override { return kBosId; }
  int eos_id() const override { return kEosId; }

  // The raw piece bytes and merge score of `id` (0 <= id < vocab_size()), as
  // stored in the file (byte tokens are the text "<0xXX>").
  const std::string& piece(int id) const { return pieces_[id]; }
  float score(int id) const { return scores_[id]; }
  // The header's max_token_length (informational: pieces are std::strings).
  int max_token_length() const { return max_token_length_; }

 private:
  // Transparent hashing so that lookups take a std::string_view without
  // building a std::string for every candidate pair.
  struct PieceHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>{}(s);
    }
  };

  // Id of the piece spelled `s`, or -1.
  int Lookup(std::string_view s) const;
  // run.c's merge loop over `ids` in place.
  void MergePairs(std::vector<int>& ids) const;
  // Sets byte_fallback_ from the pieces; DataLoss naming `name` when some
  // byte pieces exist but not the 256 at ids 3..258, or ids 0..2 are absent.
  absl::Status CheckBytePieces(const std::string& name);

  int max_token_length_ = 0;
  std::vector<std::string> pieces_;  // [vocab_size]
  std::vector<float> scores_;        // [vocab_size]
  // [vocab_size] what DecodeToken returns for the id when it does not follow
  // BOS: the piece, or the raw byte of a <0xXX> piece, or "" for BOS/EOS.
  std::vector<std::string> decoded_;
  // piece -> id. run.c binary-searches a sorted copy of the vocabulary, so
  // which id it finds for a piece spelled twice is unspecified; we keep the
  // lowest id (neither shipped tokenizer.bin has a repeated piece).
  std::unordered_map<std::string, int, PieceHash, std::equal_to<>> ids_;
  int space_id_ = -1;  // the dummy prefix " "
  bool byte_fallback_ = true;
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_LLAMA2C_TOKENIZER_H_
