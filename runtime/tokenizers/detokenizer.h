// Incremental detokenization for streaming: token ids in, text deltas out,
// with stop strings.
//
// A token's bytes are not always text on their own: byte-fallback tokens
// (<0xXX>) carry single bytes of a multi-byte UTF-8 character, and a stop
// string may be spread over several tokens. IncrementalDetokenizer therefore
// holds back (a) the bytes of an unfinished UTF-8 character and (b) the
// longest suffix of the text that is a proper prefix of some stop string
// (more tokens could complete it), and emits everything else at once. Every
// delta is valid UTF-8 (whole characters only).
//
// Invalid UTF-8 never stalls the stream: a byte that cannot start a
// character, or a sequence cut short by a byte that cannot continue it, is
// replaced by one U+FFFD per maximal ill-formed subpart (the Unicode
// Standard's recommended practice, section 3.9 "U+FFFD Substitution of
// Maximal Subparts") as soon as it is known to be invalid. Finish() replaces
// an unfinished character left at the very end with one U+FFFD. For valid
// UTF-8 output the concatenated deltas equal tokenizer.Decode of the ids
// (given the same previous token), up to the stop string.
//
// Stop strings: when the text contains one, the text before the earliest
// occurrence (lowest start; on equal starts, the earlier string in the list)
// is emitted, the stop string and everything after it are not, stopped()
// becomes true and later calls return "". Empty stop strings are ignored.
// Matching is on the decoded text (after U+FFFD substitution).
//
// Usage:
//   IncrementalDetokenizer detok(tokenizer, {"\n\n"}, prompt_ids.back());
//   for each sampled token t:
//     send(detok.Push(t));
//     if (detok.stopped()) break;   // finish reason STOP_SEQUENCE
//   send(detok.Finish());           // at EOS / length limit
#ifndef HEADROOM_RUNTIME_TOKENIZERS_DETOKENIZER_H_
#define HEADROOM_RUNTIME_TOKENIZERS_DETOKENIZER_H_

#include <string>
#include <vector>

#include "runtime/tokenizers/tokenizer.h"

namespace headroom::runtime {

class IncrementalDetokenizer {
 public:
  // `tokenizer` is not owned and must outlive this object. `previous_token`
  // is the token before the first one pushed (the last prompt token, or BOS
  // for an empty prompt), so that Tokenizer::DecodeToken's rule (a piece
  // right after BOS loses its leading space) applies to the first output.
  IncrementalDetokenizer(const Tokenizer& tokenizer,
                         std::vector<std::string> stop_strings,
                         int previous_token);

  // Appends the bytes of `token` and returns the text that became
  // emittable: whole UTF-8 characters, less a held-back possible stop-string
  // prefix. "" once stopped() or after Finish().
  std::string Push(int token);

  // Ends the stream: returns everything still held back (a stop-string
  // prefix that never completed is plain text after all; an unfinished
  // UTF-8 character becomes U+FFFD). A stop string completed only by that
  // U+FFFD still stops. "" when already stopped or finished.
  std::string Finish();

  bool stopped() const { return stopped_; }
  // All text emitted so far (the concatenation of the returned deltas).
  const std::string& text() const { return text_; }
  // The stop string that ended the text; "" unless stopped().
  const std::string& matched_stop() const { return matched_stop_; }

 private:
  // Moves the complete (or known-invalid) characters at the front of
  // pending_ into held_ as valid UTF-8; at the end of the stream an
  // unfinished tail becomes U+FFFD too.
  void DecodePending(bool at_end);
  // Looks for a stop string in held_ and returns (and records in text_) the
  // part of held_ that can be emitted now; with `at_end` nothing is held.
  std::string Release(bool at_end);

  const Tokenizer* tokenizer_;  // not owned
  std::vector<std::string> stop_strings_;
  int previous_token_;
  std::string pending_;  // raw bytes of an unfinished UTF-8 character
  std::string held_;     // valid UTF-8 not emitted yet (stop-string prefix)
  std::string text_;
  std::string matched_stop_;
  bool stopped_ = false;
  bool finished_ = false;
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_DETOKENIZER_H_
