#include "runtime/tokenizers/bpe_model.h"

#include <cstdio>
#include <queue>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "runtime/tokenizers/utf8_util.h"

namespace headroom::runtime {

absl::StatusOr<BpeModel> BpeModel::Create(BpeConfig config) {
  BpeModel m;
  int64_t max_id = -1;
  for (const auto& [token, id] : config.vocab) {
    if (id < 0 || id > kMaxId) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.vocab: token \"", token, "\" has id ", id,
                       ", outside [0, ", kMaxId, "]"));
    }
    max_id = std::max(max_id, id);
  }
  m.tokens_.resize(static_cast<size_t>(max_id + 1));
  m.ids_.reserve(config.vocab.size());
  for (auto& [token, id] : config.vocab) {
    if (!m.tokens_[id].empty() || token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model.vocab: id ", id,
          token.empty() ? " is an empty token" : " is given to two tokens"));
    }
    m.tokens_[id] = token;
    if (!m.ids_.emplace(std::move(token), static_cast<int>(id)).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model.vocab: token \"", m.tokens_[id], "\" appears twice"));
    }
  }
  m.merges_.reserve(config.merges.size());
  std::string merged;
  for (size_t rank = 0; rank < config.merges.size(); ++rank) {
    const auto& [a, b] = config.merges[rank];
    const int a_id = m.TokenId(a);
    const int b_id = m.TokenId(b);
    merged.assign(a).append(b);
    const int merged_id = m.TokenId(merged);
    if (a_id < 0 || b_id < 0 || merged_id < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model.merges[", rank, "]: \"",
          a_id < 0 ? a : (b_id < 0 ? b : merged), "\" is not in model.vocab"));
    }
    if (rank > static_cast<size_t>(INT32_MAX)) {
      return absl::InvalidArgumentError("model.merges: too many merges");
    }
    // A pair listed twice keeps its last rank, as the library's map does.
    m.merges_[PairKey(a_id, b_id)] = Merge{static_cast<int>(rank), merged_id};
  }
  if (config.unk_token.has_value()) {
    m.unk_id_ = m.TokenId(*config.unk_token);
    if (m.unk_id_ < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.unk_token: \"", *config.unk_token,
                       "\" is not in model.vocab"));
    }
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    m.byte_ids_[b] = m.TokenId(name);
  }
  m.byte_fallback_ = config.byte_fallback;
  m.fuse_unk_ = config.fuse_unk;
  m.ignore_merges_ = config.ignore_merges;
  return m;
}

int BpeModel::TokenId(std::string_view token) const {
  // absl's string hash takes absl::string_view (not std's in this build).
  auto it = ids_.find(absl::string_view(token.data(), token.size()));
  return it == ids_.end() ? -1 : it->second;
}

const std::string& BpeModel::Token(int id) const {
  static const std::string* empty = new std::string();
  if (id < 0 || id >= size()) return *empty;
  return tokens_[id];
}

void BpeModel::EncodeWord(std::string_view word, std::vector<int>* out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const int id = TokenId(word); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  // The word's initial symbols.
  std::vector<int> ids;
  ids.reserve(word.size());
  bool last_unk = false;
  for (size_t pos = 0; pos < word.size();) {
    size_t len = Utf8CharLength(word, pos);
    if (len == 0) len = 1;  // an ill-formed byte is a character of its own
    const std::string_view ch = word.substr(pos, len);
    pos += len;
    if (const int id = TokenId(ch); id >= 0) {
      ids.push_back(id);
      last_unk = false;
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : ch)
        all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : ch)
          ids.push_back(byte_ids_[static_cast<unsigned char>(c)]);
        last_unk = false;
        continue;
      }
    }
    if (unk_id_ >= 0) {
      if (!(fuse_unk_ && last_unk)) ids.push_back(unk_id_);
      last_unk = true;
    }
  }
  // Positions are 64-bit: a word is as long as the text (no bound).
  const int64_t n = static_cast<int64_t>(ids.size());
  if (n > 1) {
    // Symbols as a doubly linked list; candidate merges in a min-heap of
    // (rank, position), checked against the list when popped.
    std::vector<int64_t> prev(n), next(n);
    for (int64_t i = 0; i < n; ++i) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    struct Candidate {
      int rank;
      int left, right, merged;
      int64_t pos;
      bool operator>(const Candidate& o) const {
        return rank != o.rank ? rank > o.rank : pos > o.pos;
      }
    };
    std::priority_queue<Candidate, std::vector<Candidate>,
                        std::greater<Candidate>>
        heap;
    auto consider = [&](int64_t i) {
      if (i < 0 || next[i] < 0) return;
      auto it = merges_.find(PairKey(ids[i], ids[next[i]]));
      if (it != merges_.end()) {
        heap.push(
            {it->second.rank, ids[i], ids[next[i]], it->second.merged, i});
      }
    };
    for (int64_t i = 0; i + 1 < n; ++i) consider(i);
    while (!heap.empty()) {
      const Candidate c = heap.top();
      heap.pop();
      const int64_t i = c.pos;
      // Stale: the symbol was merged away or changed, or its right
      // neighbour did.
      if (ids[i] != c.left || next[i] < 0 || ids[next[i]] != c.right) continue;
      const int64_t j = next[i];
      ids[i] = c.merged;
      ids[j] = -1;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      consider(prev[i]);
      consider(i);
    }
    for (int64_t i = 0; i >= 0; i = next[i]) out->push_back(ids[i]);
    return;
  }
  out->insert(out->end(), ids.begin(), ids.end());
}

}  // namespace headroom::runtime
