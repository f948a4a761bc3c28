// Uses Abseil, so it must not include <sentencepiece_processor.h>: see
// sentencepiece_shim.h.
#include "runtime/tokenizers/sentencepiece_tokenizer.h"

#include <filesystem>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace headroom::runtime {
namespace {

// SentencePiece's visible word-boundary mark, U+2581 LOWER ONE EIGHTH BLOCK.
constexpr std::string_view kWordBoundary = "\xE2\x96\x81";

// `piece` with every U+2581 turned into ' ', as llama2.c's export does.
std::string ReplaceWordBoundaries(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  size_t pos = 0;
  while (pos < piece.size()) {
    if (piece.substr(pos, kWordBoundary.size()) == kWordBoundary) {
      out += ' ';
      pos += kWordBoundary.size();
    } else {
      out += piece[pos++];
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>>
SentencePieceTokenizer::Load(const std::string& path, int vocab_size) {
  if (vocab_size < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer ", path, ": vocab_size ", vocab_size, " is negative"));
  }
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("tokenizer ", path, " does not exist"));
  }
  std::string error;
  std::unique_ptr<SentencePieceShim> shim =
      SentencePieceShim::Load(path, &error);
  if (shim == nullptr) {
    return absl::DataLossError(absl::StrCat(
        "tokenizer ", path, " is not a valid SentencePiece model: ", error));
  }
  const int size = shim->GetPieceSize();
  if (vocab_size > 0 && size != vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer ", path, " has ", size,
                     " pieces but the model's vocab_size is ", vocab_size));
  }
  // The Tokenizer interface promises BOS and EOS ids; a model trained
  // without them cannot drive generation.
  if (shim->bos_id() < 0 || shim->bos_id() >= size || shim->eos_id() < 0 ||
      shim->eos_id() >= size) {
    return absl::DataLossError(absl::StrCat(
        "tokenizer ", path, " lacks a BOS or EOS piece (bos_id ",
        shim->bos_id(), ", eos_id ", shim->eos_id(), ", ", size, " pieces)"));
  }
  return std::make_unique<SentencePieceTokenizer>(PrivateTag(),
                                                  std::move(shim));
}

SentencePieceTokenizer::SentencePieceTokenizer(
    PrivateTag, std::unique_ptr<SentencePieceShim> shim)
    : shim_(std::move(shim)),
      bos_id_(shim_->bos_id()),
      eos_id_(shim_->eos_id()) {
  // Decoding a token happens once per generated token per stream, so the
  // piece -> text conversion is done once here.
  const int size = shim_->GetPieceSize();
  decoded_.resize(size);
  drops_space_after_bos_.assign(size, false);
  for (int id = 0; id < size; ++id) {
    const std::string piece = shim_->IdToPiece(id);
    switch (shim_->GetPieceType(id)) {
      case SentencePieceShim::PieceType::kControl:
        break;  // BOS, EOS (and any other control piece) are not text
      case SentencePieceShim::PieceType::kByte:
        if (std::optional<unsigned char> byte = ParseBytePiece(piece)) {
          decoded_[id] = std::string(1, static_cast<char>(*byte));
        } else {
          decoded_[id] = piece;  // not expected from sentencepiece
        }
        break;
      case SentencePieceShim::PieceType::kUnknown:
        // llama2.c's export keeps "<unk>" as text; so do we.
        decoded_[id] = piece;
        break;
      case SentencePieceShim::PieceType::kNormal:
      case SentencePieceShim::PieceType::kUnused:
        decoded_[id] = ReplaceWordBoundaries(piece);
        drops_space_after_bos_[id] =
            !decoded_[id].empty() && decoded_[id][0] == ' ';
        break;
    }
  }
}

std::vector<int> SentencePieceTokenizer::Encode(std::string_view text,
                                                bool add_bos) const {
  std::vector<int> ids;
  if (add_bos) ids.push_back(bos_id_);
  if (text.empty()) return ids;
  std::vector<int> pieces;
  std::string error;
  // sentencepiece fails only when no model is loaded, which Load rules out;
  // should it fail anyway, the text contributes no tokens.
  if (!shim_->Encode(text, &pieces, &error)) return ids;
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  return ids;
}

std::string SentencePieceTokenizer::DecodeToken(int prev_id, int id) const {
  if (id < 0 || id >= vocab_size()) return "";
  if (prev_id == bos_id_ && drops_space_after_bos_[id]) {
    return decoded_[id].substr(1);
  }
  return decoded_[id];
}

}  // namespace headroom::runtime
