// tokenizer.json pre-tokenizers: how normalized text is cut into words that
// the model encodes one at a time. Supported: Split (a regex or string, with
// the five split behaviours and invert), ByteLevel (optionally GPT-2's own
// split regex, then each byte as its printable code point: byte_level.h),
// Metaspace (spaces as U+2581 with a prepend scheme, optionally split
// before each U+2581) and Sequence (these, applied in order to every piece).
#ifndef HEADROOM_RUNTIME_TOKENIZERS_PRE_TOKENIZER_H_
#define HEADROOM_RUNTIME_TOKENIZERS_PRE_TOKENIZER_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/tokenizers/hf_regex.h"

namespace headroom::runtime {

// How a split treats the pieces that match (the tokenizers library's
// SplitDelimiterBehavior).
enum class SplitBehavior {
  kRemoved,             // matches are dropped
  kIsolated,            // matches are pieces of their own
  kMergedWithPrevious,  // a match ends the piece before it
  kMergedWithNext,      // a match starts the piece after it
  kContiguous,          // adjacent matches form one piece
};

// The pieces of `text` given the [begin, end) `matches` (sorted, disjoint):
// the matches and the gaps between them, combined as `behavior` says; with
// `invert` the gaps are the matches. Empty pieces are dropped.
std::vector<std::string_view> SplitByMatches(
    std::string_view text,
    const std::vector<std::pair<size_t, size_t>>& matches,
    SplitBehavior behavior, bool invert);

struct PreTokenizerStep {
  enum class Kind { kSplit, kByteLevel, kMetaspace };
  enum class PrependScheme { kAlways, kFirst, kNever };
  Kind kind = Kind::kSplit;
  // kSplit
  std::optional<HfRegex> pattern;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  // kByteLevel
  bool add_prefix_space = false;
  bool use_regex = true;
  // kMetaspace
  std::string replacement = "\xE2\x96\x81";  // U+2581
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  bool split = true;
};

class PreTokenizer {
 public:
  PreTokenizer() = default;
  // InvalidArgument when ByteLevel's built-in regex does not compile (it
  // always does).
  static absl::StatusOr<PreTokenizer> Create(
      std::vector<PreTokenizerStep> steps);

  // The words of `text` (one piece when there are no steps).
  // `at_text_start`: `text` begins the input (Metaspace's "first" scheme
  // prepends only then).
  std::vector<std::string> PreTokenize(std::string_view text,
                                       bool at_text_start) const;

 private:
  std::vector<PreTokenizerStep> steps_;
  std::optional<HfRegex> gpt2_;  // ByteLevel's use_regex pattern
};

// GPT-2's split pattern, which ByteLevel uses when use_regex is true.
inline constexpr std::string_view kGpt2SplitPattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
    "\\s+(?!\\S)|\\s+";

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_PRE_TOKENIZER_H_
