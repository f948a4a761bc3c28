#include "runtime/tokenizers/llama2c_tokenizer.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <queue>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace headroom::runtime {
namespace {

// tokenizer.bin is little-endian and we read it with memcpy.
static_assert(std::endian::native == std::endian::little,
              "Llama2cTokenizer reads little-endian files on a little-endian "
              "host only");

// run.c starts its search for the best merge at this score and accepts a pair
// only with a strictly greater score, so a piece scored at or below it (or
// NaN) is never produced by a merge. Kept to stay bit-for-bit with run.c.
constexpr float kNoMergeScore = -1e10f;

constexpr int kNumBytePieces = 256;

bool IsUtf8Continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

int32_t ReadInt32(const char* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

float ReadFloat(const char* p) {
  float v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> Llama2cTokenizer::Load(
    const std::string& path, int vocab_size) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("tokenizer ", path, " does not exist"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("error reading ", path));
  }
  return FromBytes(bytes, vocab_size, path);
}

absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> Llama2cTokenizer::FromBytes(
    std::string_view bytes, int vocab_size, std::string_view name_view) {
  // Debian's Abseil has its own absl::string_view, which std::string_view
  // does not convert to, so StrCat gets a std::string.
  const std::string name(name_view);
  if (vocab_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer ", name, ": vocab_size ", vocab_size,
                     " is negative (pass |vocab_size| of a llama2.c "
                     "checkpoint with an unshared classifier)"));
  }
  if (bytes.size() < sizeof(int32_t)) {
    return absl::DataLossError(absl::StrCat(
        "tokenizer ", name, ": ", bytes.size(),
        " bytes is too short for the 4-byte max_token_length header"));
  }
  auto tok = std::make_unique<Llama2cTokenizer>(PrivateTag());
  tok->max_token_length_ = ReadInt32(bytes.data());
  if (tok->max_token_length_ < 0) {
    return absl::DataLossError(absl::StrCat("tokenizer ", name,
                                            ": negative max_token_length ",
                                            tok->max_token_length_));
  }

  // The file does not say how many entries it holds, so read to the end and
  // compare the count with what the model expects afterwards: that gives a
  // mismatch error naming both numbers instead of a confusing parse error.
  size_t offset = sizeof(int32_t);
  absl::Status parse_error;
  while (offset < bytes.size()) {
    const size_t index = tok->pieces_.size();
    const size_t left = bytes.size() - offset;
    if (left < 2 * sizeof(int32_t)) {
      parse_error = absl::DataLossError(absl::StrCat(
          "tokenizer ", name, ": token ", index, " is truncated: ", left,
          " bytes left, the score and length need 8"));
      break;
    }
    const float score = ReadFloat(bytes.data() + offset);
    const int32_t length = ReadInt32(bytes.data() + offset + 4);
    offset += 8;
    if (length < 0) {
      parse_error = absl::DataLossError(
          absl::StrCat("tokenizer ", name, ": token ", index,
                       " has negative length ", length));
      break;
    }
    if (static_cast<size_t>(length) > bytes.size() - offset) {
      parse_error = absl::DataLossError(
          absl::StrCat("tokenizer ", name, ": token ", index, " has length ",
                       length, " but only ", bytes.size() - offset,
                       " bytes are left in the file (truncated or corrupt)"));
      break;
    }
    tok->pieces_.emplace_back(bytes.substr(offset, length));
    tok->scores_.push_back(score);
    offset += length;
  }
  const size_t count = tok->pieces_.size();
  if (!parse_error.ok()) {
    // Junk after the tokens the model asked for reads as a count mismatch.
    if (vocab_size > 0 && count >= static_cast<size_t>(vocab_size)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokenizer ", name, " holds more than the model's vocab_size ",
          vocab_size, " tokens: the data after token ", vocab_size - 1,
          " does not parse (", parse_error.message(), ")"));
    }
    return parse_error;
  }
  if (vocab_size > 0 && count != static_cast<size_t>(vocab_size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer ", name, " has ", count,
                     " tokens but the model's vocab_size is ", vocab_size,
                     " (a truncated file, or another model's tokenizer)"));
  }
  if (absl::Status s = tok->CheckBytePieces(name); !s.ok()) return s;

  tok->ids_.reserve(count);
  tok->decoded_.resize(count);
  for (size_t id = 0; id < count; ++id) {
    // try_emplace keeps the first (lowest) id of a repeated piece.
    tok->ids_.try_emplace(tok->pieces_[id], static_cast<int>(id));
    const std::string& piece = tok->pieces_[id];
    if (id == kBosId || id == kEosId) continue;  // decode to ""
    if (std::optional<unsigned char> byte = ParseBytePiece(piece)) {
      tok->decoded_[id] = std::string(1, static_cast<char>(*byte));
    } else {
      tok->decoded_[id] = piece;
    }
  }
  tok->space_id_ = tok->Lookup(" ");
  if (tok->space_id_ < 0) {
    return absl::DataLossError(
        absl::StrCat("tokenizer ", name,
                     " has no \" \" piece, which llama2.c's encoding "
                     "needs as the dummy prefix"));
  }
  return tok;
}

absl::Status Llama2cTokenizer::CheckBytePieces(const std::string& name) {
  const size_t count = pieces_.size();
  if (count < static_cast<size_t>(kFirstByteId)) {
    return absl::DataLossError(absl::StrCat(
        "tokenizer ", name, " has ", count,
        " tokens; a llama2.c tokenizer needs at least <unk>, BOS and EOS"));
  }
  // A vocabulary with no byte piece at all (some small community models
  // ship single characters only) has no byte fallback.
  byte_fallback_ = false;
  for (const std::string& piece : pieces_) {
    if (ParseBytePiece(piece).has_value()) byte_fallback_ = true;
  }
  if (!byte_fallback_) return absl::OkStatus();
  // Encode's byte fallback emits id byte + 3 without looking the piece up (as
  // run.c does), so those ids must exist and be the byte pieces; otherwise a
  // prompt could produce ids the model cannot embed.
  if (count < static_cast<size_t>(kFirstByteId + kNumBytePieces)) {
    return absl::DataLossError(absl::StrCat(
        "tokenizer ", name, " has ", count,
        " tokens and byte pieces; a llama2.c tokenizer with byte fallback "
        "needs at least ",
        kFirstByteId + kNumBytePieces,
        " (<unk>, BOS, EOS and the 256 byte pieces <0x00>..<0xFF>)"));
  }
  for (int b = 0; b < kNumBytePieces; ++b) {
    const int id = kFirstByteId + b;
    const std::optional<unsigned char> parsed = ParseBytePiece(pieces_[id]);
    if (!parsed.has_value() || *parsed != b) {
      return absl::DataLossError(absl::StrCat(
          "tokenizer ", name, ": token ", id, " is \"",
          absl::CEscape(pieces_[id]), "\" but llama2.c's byte fallback ",
          "needs the byte piece for 0x", absl::Hex(b, absl::kZeroPad2),
          " there (the vocabulary has byte pieces, so it needs all 256 at ",
          "ids 3..258)"));
    }
  }
  return absl::OkStatus();
}

int Llama2cTokenizer::Lookup(std::string_view s) const {
  auto it = ids_.find(s);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<int> Llama2cTokenizer::Encode(std::string_view text,
                                          bool add_bos) const {
  std::vector<int> ids;
  ids.reserve(text.size() + 2);
  if (add_bos) ids.push_back(kBosId);
  // run.c adds the dummy prefix (SentencePiece's add_dummy_prefix) only to
  // non-empty text.
  if (!text.empty()) ids.push_back(space_id_);
  // One group per code point, grouped the way run.c does without validating
  // UTF-8: a byte plus the continuation bytes that follow it, at most 4 bytes
  // in all. Stray continuation bytes therefore form groups of their own.
  // run.c stops at the first NUL (C strings); we treat NUL as an ordinary
  // byte so that no input is silently cut short.
  size_t i = 0;
  while (i < text.size()) {
    size_t len = 1;
    while (len < 4 && i + len < text.size() &&
           IsUtf8Continuation(text[i + len])) {
      ++len;
    }
    const std::string_view code_point = text.substr(i, len);
    const int id = Lookup(code_point);
    if (id >= 0) {
      ids.push_back(id);
    } else if (!byte_fallback_) {
      ids.push_back(kUnkId);  // as SentencePiece without byte fallback
    } else {
      for (char c : code_point) {
        ids.push_back(kFirstByteId + static_cast<unsigned char>(c));
      }
    }
    i += len;
  }
  MergePairs(ids);
  return ids;
}

void Llama2cTokenizer::MergePairs(std::vector<int>& ids) const {
  // run.c rescans every adjacent pair after each merge, which is quadratic in
  // the prompt length. This is the same greedy process with a priority queue:
  // each step merges the pair with the highest score, the leftmost one among
  // equal scores (run.c's strict '>' while scanning left to right), over the
  // current sequence. Symbols live in a doubly linked list over their
  // starting positions; a merge keeps the left symbol and bumps its version,
  // so queued pairs that involve a changed or removed symbol are recognised
  // as stale when popped. The BOS token takes part in the scan, as in run.c.
  const int n = static_cast<int>(ids.size());
  if (n < 2) return;
  std::vector<int> next(n), prev(n);
  std::vector<uint32_t> version(n, 0);
  std::vector<bool> alive(n, true);
  for (int i = 0; i < n; ++i) {
    next[i] = i + 1;  // n = end
    prev[i] = i - 1;  // -1 = start
  }

  struct Candidate {
    float score;
    int left;
    int right;
    uint32_t left_version;
    uint32_t right_version;
    int merged_id;
  };
  // Top of the queue = highest score, then smallest left position.
  auto lower_priority = [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score < b.score;
    return a.left > b.left;
  };
  std::priority_queue<Candidate, std::vector<Candidate>,
                      decltype(lower_priority)>
      queue(lower_priority);
  std::string buffer;
  auto consider = [&](int left, int right) {
    buffer.assign(pieces_[ids[left]]);
    buffer.append(pieces_[ids[right]]);
    const int merged = Lookup(buffer);
    if (merged < 0) return;
    const float score = scores_[merged];
    if (!(score > kNoMergeScore)) return;  // also rejects NaN, as run.c does
    queue.push({score, left, right, version[left], version[right], merged});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i, i + 1);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right ||
        version[c.left] != c.left_version ||
        version[c.right] != c.right_version) {
      continue;  // stale: one side changed since the pair was queued
    }
    ids[c.left] = c.merged_id;
    ++version[c.left];
    alive[c.right] = false;
    next[c.left] = next[c.right];
    if (next[c.right] < n) prev[next[c.right]] = c.left;
    if (prev[c.left] >= 0) consider(prev[c.left], c.left);
    if (next[c.left] < n) consider(c.left, next[c.left]);
  }

  int out = 0;
  for (int i = 0; i < n; i = next[i]) ids[out++] = ids[i];
  ids.resize(out);
}

std::string Llama2cTokenizer::DecodeToken(int prev_id, int id) const {
  if (id < 0 || id >= vocab_size()) return "";
  if (prev_id == kBosId && id != kBosId && id != kEosId) {
    const std::string& piece = pieces_[id];
    // run.c drops the space first and parses the byte form afterwards, so
    // " <0x41>" after BOS is the byte 'A'; mirror that order.
    if (!piece.empty() && piece[0] == ' ') {
      const std::string_view rest = std::string_view(piece).substr(1);
      if (std::optional<unsigned char> byte = ParseBytePiece(rest)) {
        return std::string(1, static_cast<char>(*byte));
      }
      return std::string(rest);
    }
  }
  return decoded_[id];
}

}  // namespace headroom::runtime
