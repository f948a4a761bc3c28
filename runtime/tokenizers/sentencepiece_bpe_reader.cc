#include "runtime/tokenizers/sentencepiece_bpe_reader.h"

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"

namespace headroom::runtime {
namespace {

// A cursor over protobuf wire-format bytes.
class Wire {
 public:
  explicit Wire(std::string_view bytes) : p_(bytes) {}
  bool done() const { return pos_ >= p_.size(); }

  std::optional<uint64_t> Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && pos_ < p_.size(); shift += 7) {
      const uint8_t b = static_cast<uint8_t>(p_[pos_++]);
      v |= uint64_t{b & 0x7Fu} << shift;
      if ((b & 0x80u) == 0) return v;
    }
    return std::nullopt;
  }
  std::optional<std::string_view> Bytes() {
    auto len = Varint();
    if (!len || *len > p_.size() - pos_) return std::nullopt;
    std::string_view out = p_.substr(pos_, *len);
    pos_ += *len;
    return out;
  }
  std::optional<uint32_t> Fixed32() {
    if (p_.size() - pos_ < 4) return std::nullopt;
    uint32_t v;
    std::memcpy(&v, p_.data() + pos_, 4);  // little-endian hosts only
    pos_ += 4;
    return v;
  }
  // Skips a field of wire type `type`; false on malformed input.
  bool Skip(uint64_t type) {
    switch (type) {
      case 0:
        return Varint().has_value();
      case 1:
        if (p_.size() - pos_ < 8) return false;
        pos_ += 8;
        return true;
      case 2:
        return Bytes().has_value();
      case 5:
        return Fixed32().has_value();
      default:
        return false;
    }
  }

 private:
  std::string_view p_;
  size_t pos_ = 0;
};

struct Piece {
  std::string text;
  float score = 0.0f;
};

const char* ModelTypeName(uint64_t type) {
  switch (type) {  // sentencepiece_model.proto's TrainerSpec.ModelType
    case 1:
      return "UNIGRAM";
    case 2:
      return "BPE";
    case 3:
      return "WORD";
    case 4:
      return "CHAR";
    default:
      return "unknown";
  }
}

// Unimplemented naming the file, the model type and what is missing unless
// the model is one that encodes exactly like llama2.c's algorithm.
absl::Status CheckSupported(const std::string& where, uint64_t model_type,
                            bool byte_fallback, bool add_dummy_prefix,
                            bool remove_spaces, const std::string& normalizer) {
  std::string problem;
  if (model_type != 2) {
    problem = "only BPE models are supported";
  } else if (!byte_fallback) {
    problem = "byte_fallback is off";
  } else if (!add_dummy_prefix) {
    problem = "add_dummy_prefix is off";
  } else if (remove_spaces) {
    problem = "remove_extra_whitespaces is on";
  } else if (normalizer != "identity") {
    problem = absl::StrCat("the normalizer is \"", normalizer,
                           "\", not \"identity\"");
  } else {
    return absl::OkStatus();
  }
  return absl::UnimplementedError(absl::StrCat(
      "tokenizer ", where, ": SentencePiece model type ",
      ModelTypeName(model_type), " (", model_type, "): ", problem,
      ". Headroom reads SentencePiece models only when they are BPE with "
      "byte fallback, a dummy prefix and the identity normalizer (LLaMA's "
      "kind); libsentencepiece, which reads the others, aborts in "
      "headroom-server (docs/decisions.md), so they are refused everywhere. "
      "Convert the vocabulary to a llama2.c tokenizer.bin or a BPE model"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> ReadSentencePieceBpeModel(
    std::string_view bytes, int vocab_size, std::string_view name) {
  const std::string where(name);
  auto malformed = [&](const char* what) {
    return absl::DataLossError(
        absl::StrCat(where, ": not a SentencePiece model (", what, ")"));
  };
  std::vector<Piece> pieces;
  // Proto defaults (sentencepiece_model.proto): UNIGRAM, no byte fallback,
  // dummy prefix on, extra whitespace removed.
  uint64_t model_type = 1;
  bool byte_fallback = false, add_dummy_prefix = true, remove_spaces = true;
  std::string normalizer = "nmt_nfkc";
  Wire model(bytes);
  while (!model.done()) {
    auto key = model.Varint();
    if (!key) return malformed("truncated key");
    const uint64_t field = *key >> 3, type = *key & 7;
    if ((field == 1 || field == 2 || field == 3) && type == 2) {
      auto sub = model.Bytes();
      if (!sub) return malformed("truncated message");
      Wire w(*sub);
      Piece piece;
      while (!w.done()) {
        auto k = w.Varint();
        if (!k) return malformed("truncated field");
        const uint64_t f = *k >> 3, t = *k & 7;
        bool ok = true;
        if (field == 1 && f == 1 && t == 2) {  // SentencePiece.piece
          auto s = w.Bytes();
          ok = s.has_value();
          if (ok) piece.text = std::string(*s);
        } else if (field == 1 && f == 2 && t == 5) {  // SentencePiece.score
          auto v = w.Fixed32();
          ok = v.has_value();
          if (ok) std::memcpy(&piece.score, &*v, 4);
        } else if (field == 2 && f == 3 && t == 0) {  // TrainerSpec.model_type
          auto v = w.Varint();
          ok = v.has_value();
          if (ok) model_type = *v;
        } else if (field == 2 && f == 35 && t == 0) {  // byte_fallback
          auto v = w.Varint();
          ok = v.has_value();
          if (ok) byte_fallback = *v != 0;
        } else if (field == 3 && f == 1 && t == 2) {  // NormalizerSpec.name
          auto s = w.Bytes();
          ok = s.has_value();
          if (ok) normalizer = std::string(*s);
        } else if (field == 3 && f == 3 && t == 0) {  // add_dummy_prefix
          auto v = w.Varint();
          ok = v.has_value();
          if (ok) add_dummy_prefix = *v != 0;
        } else if (field == 3 && f == 4 && t == 0) {  // remove_extra_ws
          auto v = w.Varint();
          ok = v.has_value();
          if (ok) remove_spaces = *v != 0;
        } else {
          ok = w.Skip(t);
        }
        if (!ok) return malformed("truncated field");
      }
      if (field == 1) pieces.push_back(std::move(piece));
    } else if (!model.Skip(type)) {
      return malformed("bad wire type");
    }
  }
  if (pieces.empty()) return malformed("no pieces");
  if (absl::Status s =
          CheckSupported(where, model_type, byte_fallback, add_dummy_prefix,
                         remove_spaces, normalizer);
      !s.ok()) {
    return s;
  }
  // llama2.c's tokenizer.bin layout, as its export writes it: U+2581 (the
  // escaped space) becomes ' ', byte pieces stay "<0xXX>".
  std::string out(4, '\0');
  int32_t max_len = 0;
  const std::string space_mark = "\xE2\x96\x81";
  for (Piece& p : pieces) {
    for (size_t at = p.text.find(space_mark); at != std::string::npos;
         at = p.text.find(space_mark, at + 1)) {
      p.text.replace(at, space_mark.size(), " ");
    }
    const int32_t len = static_cast<int32_t>(p.text.size());
    max_len = std::max(max_len, len);
    out.append(reinterpret_cast<const char*>(&p.score), 4);
    out.append(reinterpret_cast<const char*>(&len), 4);
    out += p.text;
  }
  std::memcpy(out.data(), &max_len, 4);
  return Llama2cTokenizer::FromBytes(out, vocab_size, where);
}

}  // namespace headroom::runtime
