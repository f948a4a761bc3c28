// Tokenizer: text <-> token ids, behind one interface for llama2.c's
// tokenizer.bin, SentencePiece's tokenizer.model and Hugging Face's
// tokenizer.json (hf_tokenizer.h).
#ifndef HEADROOM_RUNTIME_TOKENIZERS_TOKENIZER_H_
#define HEADROOM_RUNTIME_TOKENIZERS_TOKENIZER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace headroom::runtime {

// Bytes [begin, end) of a text.
struct ByteRange {
  size_t begin = 0;
  size_t end = 0;
};

// How Tokenizer::EncodeWithOptions treats the text.
struct EncodeOptions {
  // Add the tokenizer's special tokens around the text (BOS for llama2.c and
  // SentencePiece; tokenizer.json's post-processor template).
  bool add_special_tokens = false;
  // Whether added and special tokens spelled in the text (e.g.
  // "<|im_start|>") become those tokens. false encodes them as plain text,
  // so that untrusted text (a chat message's content) cannot inject
  // template tokens. Only tokenizer.json has such tokens; the others
  // ignore this flag.
  bool parse_special = true;
  // With parse_special: ranges of the text (sorted, disjoint) in which no
  // added or special token is matched: a token whose bytes overlap one is
  // left as plain text, and everything else encodes exactly as without
  // them (the text between tokens in one piece). The chat path marks the
  // bytes that came from message contents (RenderedChat::untrusted), so a
  // content spelling "<|im_start|>" cannot inject the template's token
  // while the template's own tokens stay tokens.
  std::vector<ByteRange> plain_text;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Encode with options; the default is Encode(text, add_special_tokens).
  virtual std::vector<int> EncodeWithOptions(
      std::string_view text, const EncodeOptions& options) const {
    return Encode(text, options.add_special_tokens);
  }

  // Ids of `text`, with BOS first when `add_bos`. Never fails on valid UTF-8;
  // bytes that are not in the vocabulary fall back to byte tokens.
  virtual std::vector<int> Encode(std::string_view text,
                                  bool add_bos) const = 0;
  // The bytes token `id` stands for when it follows `prev_id` (the leading
  // space of a piece right after BOS is dropped; byte tokens give one raw
  // byte, which may be part of a multi-byte UTF-8 character). BOS, EOS and
  // ids outside [0, vocab_size()) give "": any int is safe to pass.
  virtual std::string DecodeToken(int prev_id, int id) const = 0;
  // Text of a whole sequence (BOS and EOS contribute nothing): DecodeToken
  // of each id after the one before it, the first as if it followed BOS, so
  // that the dummy-prefix space Encode adds is dropped with or without BOS:
  // Decode(Encode(s, add_bos)) == s for any bytes with llama2.c's
  // tokenizer, and for valid UTF-8 without U+2581 with SentencePiece's (see
  // SentencePieceTokenizer::Encode).
  virtual std::string Decode(const std::vector<int>& ids) const;

  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;
};

// Loads `path`: a Hugging Face tokenizer.json when it ends in ".json"
// (HfTokenizer; its vocabulary may be smaller than the model's `vocab_size`,
// which pads the embedding, but not larger: InvalidArgument naming both), a
// SentencePiece model when it ends in ".model", else a llama2.c
// tokenizer.bin with `vocab_size` entries. `vocab_size` is checked against
// the file (InvalidArgument naming both counts); 0 skips the check.
// NotFound when the file is missing, DataLoss when it is malformed.
// SentencePiece models are read without libsentencepiece and only when they
// are BPE with byte fallback, a dummy prefix and the identity normalizer
// (sentencepiece_bpe_reader.h); others (unigram, ...) are Unimplemented,
// naming the file and the model type. SentencePieceTokenizer (libsentencepiece)
// is no longer reached from here: it serves as the tests' reference.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(
    const std::string& path, int vocab_size);

// The tokenizer that belongs to a model when none is given: in the model's
// directory (or beside the .bin file) tokenizer.json (what the Hugging Face
// hub ships), then tokenizer.model, then tokenizer.bin, then the only
// tok*.bin file. NotFound names the directory and the names
// tried (also when several tok*.bin files make the choice ambiguous).
absl::StatusOr<std::string> FindTokenizerFor(const std::string& model_path);

// The byte that a byte-fallback piece stands for: `piece` is exactly "<0xXX>"
// with two hex digits (either case); nullopt for every other piece. Shared by
// the implementations so that both decode byte pieces identically.
std::optional<unsigned char> ParseBytePiece(std::string_view piece);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_TOKENIZER_H_
