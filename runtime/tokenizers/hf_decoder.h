// tokenizer.json decoders, token by token: the text each token contributes,
// so that streaming (IncrementalDetokenizer) and whole-sequence decoding
// agree. Supported: ByteLevel (code points back to bytes), Replace,
// ByteFallback (<0xNN> as the raw byte; an incomplete or invalid UTF-8
// sequence is left to the caller, which substitutes U+FFFD), Fuse, Strip,
// Metaspace (U+2581 as ' ', the first token's leading space dropped unless
// prepend_scheme is "never") and Sequence.
//
// The library applies a Sequence to the list of tokens; after Fuse that
// list is one string, the whole text. Every step here acts within a token,
// which is the same except for Strip after Fuse: it then strips the start
// of the whole text, that is of the first token, and its "stop" (the end of
// the text, not known while streaming) is refused when the decoder is made.
#ifndef HEADROOM_RUNTIME_TOKENIZERS_HF_DECODER_H_
#define HEADROOM_RUNTIME_TOKENIZERS_HF_DECODER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizers/hf_regex.h"

namespace headroom::runtime {

struct DecoderStep {
  enum class Kind {
    kByteLevel,
    kReplace,
    kByteFallback,
    kFuse,
    kStrip,
    kMetaspace
  };
  Kind kind = Kind::kByteLevel;
  std::optional<HfRegex> pattern;  // kReplace
  std::string content;  // kReplace: the replacement; kStrip: the character
  int64_t start = 0;    // kStrip
  int64_t stop = 0;     // kStrip
  std::string replacement = "\xE2\x96\x81";  // kMetaspace
  bool prepend = true;  // kMetaspace: prepend_scheme is not "never"
  std::string field;    // where the step is in tokenizer.json, for errors
};

class HfDecoder {
 public:
  HfDecoder() = default;
  // InvalidArgument naming the step's field for Strip with stop > 0 after
  // Fuse, or a negative start/stop.
  static absl::StatusOr<HfDecoder> Create(std::vector<DecoderStep> steps);

  // What `token` (a vocabulary string) decodes to; `first`: it is the first
  // token of the text.
  std::string DecodeToken(std::string_view token, bool first) const;
  // Whether DecodeToken depends on `first`.
  bool first_matters() const { return first_matters_; }

 private:
  std::vector<DecoderStep> steps_;
  bool first_matters_ = false;
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_HF_DECODER_H_
