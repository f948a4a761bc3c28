#include "runtime/tokenizers/normalizer.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include "runtime/tokenizers/utf8_util.h"

namespace headroom::runtime {
namespace {

const icu::Normalizer2* GetForm(NormalizerStep::Kind kind) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* form = nullptr;
  switch (kind) {
    case NormalizerStep::Kind::kNfd:
      form = icu::Normalizer2::getNFDInstance(status);
      break;
    case NormalizerStep::Kind::kNfkc:
      form = icu::Normalizer2::getNFKCInstance(status);
      break;
    case NormalizerStep::Kind::kNfkd:
      form = icu::Normalizer2::getNFKDInstance(status);
      break;
    default:
      form = icu::Normalizer2::getNFCInstance(status);
      break;
  }
  return U_SUCCESS(status) ? form : nullptr;
}

// One well-formed run through ICU.
void NormalizeRun(std::string_view run, const icu::Normalizer2* form,
                  std::string* out) {
  bool ascii = true;
  for (char c : run) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  // ASCII is invariant under all four forms.
  if (ascii || form == nullptr) {
    out->append(run);
    return;
  }
  const icu::UnicodeString s = icu::UnicodeString::fromUTF8(
      icu::StringPiece(run.data(), static_cast<int32_t>(run.size())));
  UErrorCode status = U_ZERO_ERROR;
  const icu::UnicodeString normalized = form->normalize(s, status);
  if (U_FAILURE(status)) {
    out->append(run);
    return;
  }
  normalized.toUTF8String(*out);
}

}  // namespace

std::string UnicodeNormalize(std::string_view text, NormalizerStep::Kind kind) {
  const icu::Normalizer2* form = GetForm(kind);
  std::string out;
  out.reserve(text.size());
  size_t run_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t len = Utf8CharLength(text, pos);
    if (len > 0) {
      pos += len;
      continue;
    }
    NormalizeRun(text.substr(run_start, pos - run_start), form, &out);
    out += text[pos++];
    run_start = pos;
  }
  NormalizeRun(text.substr(run_start), form, &out);
  return out;
}

std::string Normalizer::Normalize(std::string_view text) const {
  std::string s(text);
  for (const NormalizerStep& step : steps_) {
    switch (step.kind) {
      case NormalizerStep::Kind::kPrepend:
        if (!s.empty()) s.insert(0, step.content);
        break;
      case NormalizerStep::Kind::kReplace:
        s = step.pattern->ReplaceAll(s, step.content);
        break;
      default:
        s = UnicodeNormalize(s, step.kind);
        break;
    }
  }
  return s;
}

}  // namespace headroom::runtime
