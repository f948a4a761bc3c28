// A compiled regular expression for tokenizer.json patterns, through PCRE2.
//
// tokenizer.json patterns are written for the Rust tokenizers library, which
// compiles them with Oniguruma: Unicode classes (\p{L}, \p{N}), lookahead
// ((?!\S)), inline case-insensitive groups. PCRE2 (UTF + UCP mode) reads the
// same syntax with the same meaning, with one difference that is rewritten
// here: Oniguruma's \s is the Unicode White_Space property, which includes
// U+0085 (NEL); PCRE2's \s is \p{Z} plus the ASCII controls, which does not.
// Input that is not valid UTF-8 is searched too (PCRE2_MATCH_INVALID_UTF):
// ill-formed bytes never match and end up between matches.
#ifndef HEADROOM_RUNTIME_TOKENIZERS_HF_REGEX_H_
#define HEADROOM_RUNTIME_TOKENIZERS_HF_REGEX_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace headroom::runtime {

class HfRegex {
 public:
  // Compiles `pattern`; InvalidArgument naming `field` (the JSON field the
  // pattern came from) and PCRE2's message when it does not compile.
  static absl::StatusOr<HfRegex> Compile(std::string_view pattern,
                                         std::string_view field);
  // A pattern that matches `literal` exactly (tokenizer.json's {"String":..}).
  static absl::StatusOr<HfRegex> Literal(std::string_view literal,
                                         std::string_view field);

  // [begin, end) byte offsets of the successive non-overlapping matches of
  // the pattern in `text`, left to right. Empty matches are skipped.
  std::vector<std::pair<size_t, size_t>> FindAll(std::string_view text) const;

  // `text` with every match replaced by `replacement`.
  std::string ReplaceAll(std::string_view text,
                         std::string_view replacement) const;

 private:
  struct Code;
  explicit HfRegex(std::shared_ptr<const Code> code) : code_(std::move(code)) {}
  std::shared_ptr<const Code> code_;
};

// `pattern` with Oniguruma's \s and \S spelled for PCRE2 (see above).
std::string OnigurumaToPcre2(std::string_view pattern);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_HF_REGEX_H_
