// Includes <sentencepiece_processor.h> and, on purpose, no Abseil header: see
// sentencepiece_shim.h.
#include "runtime/tokenizers/sentencepiece_shim.h"

#include <sentencepiece_processor.h>

#include <utility>

namespace headroom::runtime {

SentencePieceShim::SentencePieceShim(
    PrivateTag,
    std::unique_ptr<sentencepiece::SentencePieceProcessor> processor)
    : processor_(std::move(processor)) {}

SentencePieceShim::~SentencePieceShim() = default;

std::unique_ptr<SentencePieceShim> SentencePieceShim::Load(
    const std::string& path, std::string* error) {
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const sentencepiece::util::Status status = processor->Load(path);
  if (!status.ok()) {
    *error = status.ToString();
    return nullptr;
  }
  return std::make_unique<SentencePieceShim>(PrivateTag(),
                                             std::move(processor));
}

std::unique_ptr<SentencePieceShim> SentencePieceShim::FromSerialized(
    std::string_view serialized, std::string* error) {
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const sentencepiece::util::Status status =
      processor->LoadFromSerializedProto(serialized);
  if (!status.ok()) {
    *error = status.ToString();
    return nullptr;
  }
  return std::make_unique<SentencePieceShim>(PrivateTag(),
                                             std::move(processor));
}

bool SentencePieceShim::Encode(std::string_view text, std::vector<int>* ids,
                               std::string* error) const {
  const sentencepiece::util::Status status = processor_->Encode(text, ids);
  if (!status.ok()) {
    *error = status.ToString();
    return false;
  }
  return true;
}

int SentencePieceShim::GetPieceSize() const {
  return processor_->GetPieceSize();
}

std::string SentencePieceShim::IdToPiece(int id) const {
  return processor_->IdToPiece(id);
}

float SentencePieceShim::GetScore(int id) const {
  return processor_->GetScore(id);
}

SentencePieceShim::PieceType SentencePieceShim::GetPieceType(int id) const {
  if (processor_->IsUnknown(id)) return PieceType::kUnknown;
  if (processor_->IsControl(id)) return PieceType::kControl;
  if (processor_->IsByte(id)) return PieceType::kByte;
  if (processor_->IsUnused(id)) return PieceType::kUnused;
  return PieceType::kNormal;
}

int SentencePieceShim::bos_id() const { return processor_->bos_id(); }
int SentencePieceShim::eos_id() const { return processor_->eos_id(); }
int SentencePieceShim::unk_id() const { return processor_->unk_id(); }

}  // namespace headroom::runtime
