#include "runtime/tokenizers/added_tokens.h"

#include <algorithm>

namespace headroom::runtime {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

bool IsWordByte(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') ||
         (u >= 'A' && u <= 'Z') || u == '_';
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) {
  for (const AddedToken& t : tokens) {
    if (t.content.empty()) continue;
    int node = 0;
    for (char c : t.content) {
      const unsigned char u = static_cast<unsigned char>(c);
      auto it = nodes_[node].children.find(u);
      if (it == nodes_[node].children.end()) {
        nodes_.emplace_back();
        it = nodes_[node].children.emplace(u, nodes_.size() - 1).first;
      }
      node = it->second;
    }
    first_byte_[static_cast<unsigned char>(t.content[0])] = true;
    nodes_[node].token = static_cast<int>(tokens_.size());
    tokens_.push_back(t);
  }
}

std::pair<int, size_t> AddedTokenMatcher::LongestAt(std::string_view text,
                                                    size_t pos,
                                                    size_t limit) const {
  std::pair<int, size_t> best = {-1, 0};
  int node = 0;
  for (size_t i = pos; i < limit; ++i) {
    const auto& children = nodes_[node].children;
    auto it = children.find(static_cast<unsigned char>(text[i]));
    if (it == children.end()) break;
    node = it->second;
    const int t = nodes_[node].token;
    if (t < 0) continue;
    if (tokens_[t].single_word) {
      const bool word_before = pos > 0 && IsWordByte(text[pos - 1]);
      const bool word_after = i + 1 < text.size() && IsWordByte(text[i + 1]);
      if (word_before || word_after) continue;
    }
    best = {t, i + 1 - pos};
  }
  return best;
}

std::vector<AddedTokenMatcher::Piece> AddedTokenMatcher::Split(
    std::string_view text, const std::vector<ByteRange>& plain) const {
  std::vector<Piece> pieces;
  size_t plain_start = 0;  // start of the text not yet emitted
  size_t pos = 0;
  size_t next_plain = 0;  // the first of `plain` not wholly before `pos`
  while (pos < text.size()) {
    while (next_plain < plain.size() && plain[next_plain].end <= pos) {
      ++next_plain;
    }
    size_t limit = text.size();  // where the text a token may use ends
    if (next_plain < plain.size()) {
      if (plain[next_plain].begin <= pos) {
        pos = plain[next_plain].end;
        continue;
      }
      limit = std::min(limit, plain[next_plain].begin);
    }
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const auto [t, len] = LongestAt(text, pos, limit);
    if (t < 0) {
      ++pos;
      continue;
    }
    size_t begin = pos;
    size_t end = pos + len;
    if (tokens_[t].lstrip) {
      while (begin > plain_start && IsSpace(text[begin - 1])) --begin;
    }
    if (tokens_[t].rstrip) {
      while (end < text.size() && IsSpace(text[end])) ++end;
    }
    if (begin > plain_start) {
      pieces.push_back({text.substr(plain_start, begin - plain_start), -1});
    }
    pieces.push_back({text.substr(begin, end - begin), tokens_[t].id});
    pos = plain_start = end;
  }
  if (plain_start < text.size()) {
    pieces.push_back({text.substr(plain_start), -1});
  }
  return pieces;
}

std::vector<ByteRange> RangesWithin(const std::vector<ByteRange>& ranges,
                                    size_t begin, size_t end) {
  std::vector<ByteRange> out;
  for (const ByteRange& r : ranges) {
    const size_t b = std::max(r.begin, begin);
    const size_t e = std::min(r.end, end);
    if (b < e) out.push_back({b - begin, e - begin});
  }
  return out;
}

}  // namespace headroom::runtime
