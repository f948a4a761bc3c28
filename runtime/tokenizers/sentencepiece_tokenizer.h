// SentencePiece's tokenizer.model, through libsentencepiece.
//
// Decoding follows llama2.c's conventions (see Llama2cTokenizer) so that the
// engine's incremental detokenization behaves the same with both formats:
// "▁" (U+2581) reads as a space, the leading space of a piece right after
// BOS is dropped, byte pieces <0xXX> give one raw byte, control pieces (BOS,
// EOS) give "".
//
// Usage:
//   auto tok = SentencePieceTokenizer::Load("tokenizer.model", 32000);
//   std::vector<int> ids = (*tok)->Encode("Hello", /*add_bos=*/true);
#ifndef HEADROOM_RUNTIME_TOKENIZERS_SENTENCEPIECE_TOKENIZER_H_
#define HEADROOM_RUNTIME_TOKENIZERS_SENTENCEPIECE_TOKENIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizers/sentencepiece_shim.h"
#include "runtime/tokenizers/tokenizer.h"

namespace headroom::runtime {

class SentencePieceTokenizer final : public Tokenizer {
 private:
  // Passkey: only Load constructs, through std::make_unique.
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // Reads `path`. `vocab_size` 0 accepts any size; otherwise the model must
  // have exactly that many pieces (InvalidArgument naming both). NotFound
  // when the file does not exist; DataLoss when sentencepiece cannot parse
  // it or it has no BOS/EOS pieces.
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> Load(
      const std::string& path, int vocab_size);

  SentencePieceTokenizer(PrivateTag, std::unique_ptr<SentencePieceShim> shim);

  // sentencepiece's own encoding (its normalizer included), BOS prepended
  // when asked. For the LLaMA 2 model this gives the same ids as llama2.c's
  // tokenizer.bin on every valid UTF-8 text without U+2581. Two inputs do
  // not round-trip (Decode(Encode(s)) != s): malformed UTF-8, which
  // sentencepiece reads as one U+FFFD per bad byte, and a literal U+2581
  // "▁", which it cannot tell from an escaped space and decodes as ' '.
  std::vector<int> Encode(std::string_view text, bool add_bos) const override;
  // "" for ids outside [0, vocab_size) and for control pieces.
  std::string DecodeToken(int prev_id, int id) const override;

  int vocab_size() const override { return static_cast<int>(decoded_.size()); }
  int bos_id() const override { return bos_id_; }
  int eos_id() const override { return eos_id_; }

 private:
  std::unique_ptr<SentencePieceShim> shim_;
  // [vocab_size] DecodeToken's answer when the id does not follow BOS.
  std::vector<std::string> decoded_;
  // [vocab_size] whether that answer's leading space is a word boundary
  // (from "▁") that is dropped right after BOS; false for byte pieces, whose
  // space is real text.
  std::vector<bool> drops_space_after_bos_;
  int bos_id_ = -1;
  int eos_id_ = -1;
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_SENTENCEPIECE_TOKENIZER_H_
