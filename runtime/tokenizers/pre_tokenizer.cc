#include "runtime/tokenizers/pre_tokenizer.h"

#include <algorithm>

#include "runtime/tokenizers/byte_level.h"

namespace headroom::runtime {

std::vector<std::string_view> SplitByMatches(
    std::string_view text,
    const std::vector<std::pair<size_t, size_t>>& matches,
    SplitBehavior behavior, bool invert) {
  // The text as alternating segments, each flagged as a match or not.
  struct Segment {
    size_t begin, end;
    bool is_match;
  };
  std::vector<Segment> segments;
  size_t last = 0;
  for (const auto& [begin, end] : matches) {
    if (begin > last) segments.push_back({last, begin, invert});
    segments.push_back({begin, end, !invert});
    last = end;
  }
  if (last < text.size()) segments.push_back({last, text.size(), invert});

  std::vector<Segment> pieces;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Segment& s : segments) {
        if (!s.is_match) pieces.push_back(s);
      }
      break;
    case SplitBehavior::kIsolated:
      pieces = segments;
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !pieces.empty()) {
          pieces.back().end = s.end;
        } else {
          pieces.push_back(s);
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool next_match = false;  // whether the segment after this one matched
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !next_match && !pieces.empty()) {
          pieces.back().begin = it->begin;
        } else {
          pieces.push_back(*it);
        }
        next_match = it->is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (const Segment& s : segments) {
        if (s.is_match && previous_match) {
          pieces.back().end = s.end;
        } else {
          pieces.push_back(s);
        }
        previous_match = s.is_match;
      }
      break;
    }
  }
  std::vector<std::string_view> out;
  out.reserve(pieces.size());
  for (const Segment& s : pieces) {
    if (s.end > s.begin) out.push_back(text.substr(s.begin, s.end - s.begin));
  }
  return out;
}

absl::StatusOr<PreTokenizer> PreTokenizer::Create(
    std::vector<PreTokenizerStep> steps) {
  PreTokenizer p;
  for (const PreTokenizerStep& s : steps) {
    if (s.kind == PreTokenizerStep::Kind::kByteLevel && s.use_regex &&
        !p.gpt2_.has_value()) {
      absl::StatusOr<HfRegex> re =
          HfRegex::Compile(kGpt2SplitPattern, "ByteLevel");
      if (!re.ok()) return re.status();
      p.gpt2_ = std::move(*re);
    }
  }
  p.steps_ = std::move(steps);
  return p;
}

std::vector<std::string> PreTokenizer::PreTokenize(std::string_view text,
                                                   bool at_text_start) const {
  std::vector<std::string> pieces = {std::string(text)};
  std::vector<std::string> next;
  for (const PreTokenizerStep& step : steps_) {
    next.clear();
    for (size_t i = 0; i < pieces.size(); ++i) {
      std::string& piece = pieces[i];
      switch (step.kind) {
        case PreTokenizerStep::Kind::kSplit:
          for (std::string_view part :
               SplitByMatches(piece, step.pattern->FindAll(piece),
                              step.behavior, step.invert)) {
            next.emplace_back(part);
          }
          break;
        case PreTokenizerStep::Kind::kByteLevel: {
          if (step.add_prefix_space && !piece.starts_with(' ')) {
            piece.insert(0, 1, ' ');
          }
          if (!step.use_regex) {
            next.push_back(ByteLevelEncode(piece));
            break;
          }
          for (std::string_view part :
               SplitByMatches(piece, gpt2_->FindAll(piece),
                              SplitBehavior::kIsolated, false)) {
            next.push_back(ByteLevelEncode(part));
          }
          break;
        }
        case PreTokenizerStep::Kind::kMetaspace: {
          std::string s;
          s.reserve(piece.size() + step.replacement.size());
          for (char c : piece) {
            if (c == ' ') {
              s += step.replacement;
            } else {
              s += c;
            }
          }
          const bool prepend =
              step.prepend_scheme == PreTokenizerStep::PrependScheme::kAlways ||
              (step.prepend_scheme == PreTokenizerStep::PrependScheme::kFirst &&
               at_text_start && i == 0);
          if (prepend && !s.starts_with(step.replacement)) {
            s.insert(0, step.replacement);
          }
          if (!step.split) {
            next.push_back(std::move(s));
            break;
          }
          std::vector<std::pair<size_t, size_t>> marks;
          for (size_t pos = s.find(step.replacement); pos != std::string::npos;
               pos = s.find(step.replacement, pos + step.replacement.size())) {
            marks.emplace_back(pos, pos + step.replacement.size());
          }
          for (std::string_view part : SplitByMatches(
                   s, marks, SplitBehavior::kMergedWithNext, false)) {
            next.emplace_back(part);
          }
          break;
        }
      }
    }
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace headroom::runtime
