// A Hugging Face tokenizer.json BPE tokenizer (byte-level BPE as in LLaMA 3
// and Qwen, or SentencePiece-style BPE with Metaspace and byte fallback),
// assembled from the pieces in this directory:
//   added_tokens.h  added/special tokens found in the raw text
//   normalizer.h    NFC, Prepend, Replace, ...
//   pre_tokenizer.h Split regex, ByteLevel, Metaspace
//   bpe_model.h     merges by rank
//   hf_decoder.h    ids back to bytes, token by token
// hf_tokenizer_json.h reads the file into them.
//
// Encoding follows the tokenizers library: the text is cut at added tokens
// (unless EncodeOptions::parse_special is false; never inside
// EncodeOptions::plain_text), each piece between them is
// normalized, cut again at added tokens marked "normalized", pre-tokenized
// into words, and each word is encoded by the BPE model; with
// add_special_tokens the post-processor's template (TemplateProcessing)
// puts its special tokens around the ids (ByteLevel's post-processor adds
// none).
//
// Decoding: special added tokens decode to "" (as the library's decode with
// skip_special_tokens); every other token goes through the decoder. A token
// counts as the first of the text (Metaspace drops its leading space) when
// it follows BOS or an id outside the vocabulary, which is how Decode starts.
//
// BOS and EOS: bos_token / eos_token of a tokenizer_config.json beside the
// file, else the template's first / last special token, else the first
// added token spelled <|begin_of_text|>, <s>, <bos> / <|end_of_text|>,
// <|endoftext|>, </s>, <eos>. bos_id() is -1 when there is none (Qwen has
// no BOS); a tokenizer without an EOS is refused (generation needs one).
#ifndef HEADROOM_RUNTIME_TOKENIZERS_HF_TOKENIZER_H_
#define HEADROOM_RUNTIME_TOKENIZERS_HF_TOKENIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizers/added_tokens.h"
#include "runtime/tokenizers/hf_tokenizer_json.h"
#include "runtime/tokenizers/tokenizer.h"

namespace headroom::runtime {

class HfTokenizer final : public Tokenizer {
 public:
  // Reads `path` (a tokenizer.json) and the tokenizer_config.json beside it
  // when there is one. NotFound when `path` does not exist; InvalidArgument
  // (prefixed with the path) when it is malformed or uses what is not
  // supported.
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> Load(
      const std::string& path);
  // The same from the files' contents; `config_json` may be "".
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> FromJson(
      std::string_view tokenizer_json, std::string_view config_json = "");

  explicit HfTokenizer(HfTokenizerSpec spec);

  // EncodeWithOptions({.add_special_tokens = add_bos}).
  std::vector<int> Encode(std::string_view text, bool add_bos) const override;
  std::vector<int> EncodeWithOptions(
      std::string_view text, const EncodeOptions& options) const override;
  std::string DecodeToken(int prev_id, int id) const override;
  // The decoded tokens, the first as the first of the text.
  std::string Decode(const std::vector<int>& ids) const override;

  int vocab_size() const override { return vocab_size_; }
  int bos_id() const override { return bos_id_; }
  int eos_id() const override { return eos_id_; }
  // The id of `token` (an added token or a model token), or -1.
  int TokenId(std::string_view token) const;

 private:
  // Appends the ids of `text` (no raw added tokens in it; `plain` are its
  // ranges where none may be matched) to `out`.
  void EncodePlain(std::string_view text, bool at_text_start,
                   bool parse_special, const std::vector<ByteRange>& plain,
                   std::vector<int>* out) const;
  // Sets bos_id_ / eos_id_ (see the file comment); InvalidArgument when no
  // EOS is found or a named one is not a token.
  absl::Status ChooseBosEos(const HfSpecialTokenNames& names);

  HfTokenizerSpec spec_;
  AddedTokenMatcher raw_matcher_;           // added tokens not normalized
  AddedTokenMatcher normalized_matcher_;    // those marked "normalized"
  std::vector<std::string> tokens_;         // [vocab_size] id -> string
  std::vector<std::string> decoded_;        // [vocab_size] DecodeToken's answer
  std::vector<std::string> decoded_first_;  // the same as the first token
  int vocab_size_ = 0;
  int bos_id_ = -1;
  int eos_id_ = -1;
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_HF_TOKENIZER_H_
