// tokenizer.json normalizers: what is done to the text before it is split
// into words. Supported: the Unicode forms NFC, NFD, NFKC, NFKD (through
// ICU), Prepend, Replace and Sequence (a list of these, applied in order).
//
// Unicode normalization is applied to each maximal run of well-formed UTF-8;
// ill-formed bytes are kept as they are (the tokenizers library only takes
// valid strings, so it has no rule for them).
#ifndef HEADROOM_RUNTIME_TOKENIZERS_NORMALIZER_H_
#define HEADROOM_RUNTIME_TOKENIZERS_NORMALIZER_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tokenizers/hf_regex.h"

namespace headroom::runtime {

struct NormalizerStep {
  enum class Kind { kNfc, kNfd, kNfkc, kNfkd, kPrepend, kReplace };
  Kind kind = Kind::kNfc;
  // kPrepend: put in front of non-empty text. kReplace: what replaces each
  // match of `pattern`.
  std::string content;
  std::optional<HfRegex> pattern;  // kReplace
};

class Normalizer {
 public:
  Normalizer() = default;
  explicit Normalizer(std::vector<NormalizerStep> steps)
      : steps_(std::move(steps)) {}

  // `text` after every step in order.
  std::string Normalize(std::string_view text) const;
  bool empty() const { return steps_.empty(); }

 private:
  std::vector<NormalizerStep> steps_;
};

// `text` in Unicode normalization form `kind` (one of the four forms).
std::string UnicodeNormalize(std::string_view text, NormalizerStep::Kind kind);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_NORMALIZER_H_
