// A plain-C++ window onto libsentencepiece.
//
// Why it exists: <sentencepiece_processor.h> declares its own
// `absl::string_view` (an alias in namespace absl), which collides with the
// real Abseil's declaration when both are included in one translation unit.
// So sentencepiece_shim.cc includes sentencepiece and no Abseil header, and
// this header includes neither; SentencePieceTokenizer (which uses Abseil)
// talks to SentencePiece only through this class.
#ifndef HEADROOM_RUNTIME_TOKENIZERS_SENTENCEPIECE_SHIM_H_
#define HEADROOM_RUNTIME_TOKENIZERS_SENTENCEPIECE_SHIM_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}  // namespace sentencepiece

namespace headroom::runtime {

class SentencePieceShim {
 public:
  // What a vocabulary entry is (sentencepiece's ModelProto piece types).
  // User-defined pieces report kNormal: sentencepiece 0.1.97 has no
  // IsUserDefined, and they decode like normal pieces anyway.
  enum class PieceType { kNormal, kUnknown, kControl, kByte, kUnused };

  // Loads a tokenizer.model file, or returns null and sets `*error` to
  // sentencepiece's message.
  static std::unique_ptr<SentencePieceShim> Load(const std::string& path,
                                                 std::string* error);
  // The same from the serialized ModelProto bytes.
  static std::unique_ptr<SentencePieceShim> FromSerialized(
      std::string_view serialized, std::string* error);

  ~SentencePieceShim();
  SentencePieceShim(const SentencePieceShim&) = delete;
  SentencePieceShim& operator=(const SentencePieceShim&) = delete;

  // Ids of `text` with the model's own normalization and dummy prefix (no
  // BOS/EOS). Returns false and sets `*error` when sentencepiece fails.
  bool Encode(std::string_view text, std::vector<int>* ids,
              std::string* error) const;

  int GetPieceSize() const;
  // 0 <= id < GetPieceSize() for the three below (sentencepiece does not
  // range-check them in release builds).
  std::string IdToPiece(int id) const;
  float GetScore(int id) const;
  PieceType GetPieceType(int id) const;

  // -1 when the model has no such piece.
  int bos_id() const;
  int eos_id() const;
  int unk_id() const;

 private:
  // Passkey: only Load/FromSerialized construct, through std::make_unique.
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  SentencePieceShim(
      PrivateTag,
      std::unique_ptr<sentencepiece::SentencePieceProcessor> processor);

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_SENTENCEPIECE_SHIM_H_
