// Added tokens of tokenizer.json (its "added_tokens" list: special tokens
// such as <|begin_of_text|> and other added ones such as <think>), found in
// the text before it is normalized and split, as the tokenizers library
// does: at each position the longest token that matches there wins, the
// earliest position first, and a token found is never split further.
// Tokens whose "normalized" flag is set are looked for in the normalized
// text instead (a second matcher). Flags: lstrip / rstrip make the token
// take the whitespace (ASCII) on its left / right with it; single_word
// accepts a match only when it is not inside a word (no letter, digit, '_'
// or non-ASCII byte right before or after it).
#ifndef HEADROOM_RUNTIME_TOKENIZERS_ADDED_TOKENS_H_
#define HEADROOM_RUNTIME_TOKENIZERS_ADDED_TOKENS_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tokenizers/tokenizer.h"

namespace headroom::runtime {

struct AddedToken {
  int id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  // Matches `tokens` (empty contents are ignored; of two tokens with the
  // same content the later one wins).
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  struct Piece {
    std::string_view text;
    int id;  // the added token's id, or -1 for text between tokens
  };
  // `text` cut into added tokens and the (non-empty) text between them; no
  // token is matched whose bytes overlap one of `plain` (sorted, disjoint
  // ranges of `text`; EncodeOptions::plain_text).
  std::vector<Piece> Split(std::string_view text,
                           const std::vector<ByteRange>& plain = {}) const;
  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    std::map<unsigned char, int> children;
    int token = -1;  // index into tokens_ of the token ending here
  };
  // The longest acceptable token starting at `pos` and ending by `limit`:
  // its index and length in bytes; index -1 when none.
  std::pair<int, size_t> LongestAt(std::string_view text, size_t pos,
                                   size_t limit) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_ = std::vector<Node>(1);
  std::array<bool, 256> first_byte_{};
};

// The parts of `ranges` (sorted, disjoint) inside [begin, end), shifted to
// start at `begin`.
std::vector<ByteRange> RangesWithin(const std::vector<ByteRange>& ranges,
                                    size_t begin, size_t end);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_ADDED_TOKENS_H_
