#include "runtime/tokenizers/detokenizer.h"

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <utility>

namespace headroom::runtime {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// What the bytes at the front of `s` are, by the well-formed byte sequences
// of the Unicode Standard (table 3-7):
//   lead    2nd      3rd/4th     lead    2nd      3rd/4th
//   00..7F  -        -           E1..EC  80..BF   80..BF
//   C2..DF  80..BF   -           ED      80..9F   80..BF   (no surrogates)
//   E0      A0..BF   80..BF      EE..EF  80..BF   80..BF
//   F0      90..BF   80..BF x2   F1..F3  80..BF   80..BF x2
//   F4      80..8F   80..BF x2   (nothing above U+10FFFF)
// C0, C1 (overlong) and F5..FF never start a character; 80..BF never do.
// Returns n > 0 for a whole character of n bytes; 0 when `s` is a valid but
// unfinished start of a character (more bytes may complete it); -n when the
// first n bytes are a maximal ill-formed subpart (replace by one U+FFFD).
int ScanUtf8(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  int length;
  unsigned char lo = 0x80;  // range of the second byte
  unsigned char hi = 0xBF;
  if (lead < 0x80) {
    return 1;
  } else if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  for (int i = 1; i < length; ++i) {
    if (static_cast<size_t>(i) >= s.size()) return 0;
    const unsigned char b = byte(i);
    const unsigned char min = i == 1 ? lo : 0x80;
    const unsigned char max = i == 1 ? hi : 0xBF;
    if (b < min || b > max) return -i;
  }
  return length;
}

bool IsContinuationByte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(
    const Tokenizer& tokenizer, std::vector<std::string> stop_strings,
    int previous_token)
    : tokenizer_(&tokenizer), previous_token_(previous_token) {
  for (std::string& s : stop_strings) {
    if (!s.empty()) stop_strings_.push_back(std::move(s));
  }
}

std::string IncrementalDetokenizer::Push(int token) {
  if (stopped_ || finished_) return "";
  pending_ += tokenizer_->DecodeToken(previous_token_, token);
  previous_token_ = token;
  DecodePending(/*at_end=*/false);
  return Release(/*at_end=*/false);
}

std::string IncrementalDetokenizer::Finish() {
  if (stopped_ || finished_) return "";
  DecodePending(/*at_end=*/true);
  std::string out = Release(/*at_end=*/true);
  finished_ = true;
  return out;
}

void IncrementalDetokenizer::DecodePending(bool at_end) {
  size_t pos = 0;
  while (pos < pending_.size()) {
    const int n = ScanUtf8(std::string_view(pending_).substr(pos));
    if (n > 0) {
      held_.append(pending_, pos, n);
      pos += n;
    } else if (n < 0) {
      held_ += kReplacement;
      pos += -n;
    } else if (at_end) {
      // An unfinished character is one maximal subpart: one U+FFFD.
      held_ += kReplacement;
      pos = pending_.size();
    } else {
      break;  // wait for the bytes that may finish it
    }
  }
  pending_.erase(0, pos);
}

std::string IncrementalDetokenizer::Release(bool at_end) {
  // No stop string can start inside text already emitted: that would need
  // the emitted text to end in a proper prefix of it, which is exactly what
  // is held back. So searching held_ alone finds every occurrence.
  size_t stop_pos = std::string::npos;
  const std::string* stop = nullptr;
  for (const std::string& s : stop_strings_) {
    const size_t p = held_.find(s);
    if (p < stop_pos) {
      stop_pos = p;
      stop = &s;
    }
  }
  if (stop != nullptr) {
    std::string out = held_.substr(0, stop_pos);
    text_ += out;
    matched_stop_ = *stop;
    stopped_ = true;
    held_.clear();
    pending_.clear();
    return out;
  }

  // Hold back the longest suffix of held_ that is a proper prefix of a stop
  // string. (Looking only within held_ suffices: by induction held_ starts
  // right after the emitted text, and a longer candidate reaching into the
  // emitted text would have been held back the step before.)
  size_t hold = 0;
  if (!at_end) {
    for (const std::string& s : stop_strings_) {
      const size_t longest = std::min(s.size() - 1, held_.size());
      for (size_t k = longest; k > hold; --k) {
        if (std::string_view(held_).substr(held_.size() - k) ==
            std::string_view(s).substr(0, k)) {
          hold = k;
          break;
        }
      }
    }
  }
  size_t cut = held_.size() - hold;
  // A valid UTF-8 stop string's prefix starts on a character boundary, but
  // a stop string that starts with a stray continuation byte would not:
  // never split a character.
  while (cut > 0 && cut < held_.size() && IsContinuationByte(held_[cut])) {
    --cut;
  }
  std::string out = held_.substr(0, cut);
  held_.erase(0, cut);
  text_ += out;
  return out;
}

}  // namespace headroom::runtime
