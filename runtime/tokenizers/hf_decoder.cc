#include "runtime/tokenizers/hf_decoder.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/tokenizers/byte_level.h"
#include "runtime/tokenizers/tokenizer.h"

namespace headroom::runtime {

absl::StatusOr<HfDecoder> HfDecoder::Create(std::vector<DecoderStep> steps) {
  HfDecoder d;
  bool fused = false;
  for (const DecoderStep& s : steps) {
    switch (s.kind) {
      case DecoderStep::Kind::kFuse:
        fused = true;
        break;
      case DecoderStep::Kind::kStrip:
        if (s.start < 0 || s.stop < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(s.field, ": start and stop must be >= 0"));
        }
        if (s.content.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(s.field, ".content: empty"));
        }
        if (fused && s.stop > 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              s.field, ".stop: ", s.stop,
              " after Fuse is not supported (it strips the end of the whole "
              "text, which streaming cannot know)"));
        }
        if (fused && s.start > 0) d.first_matters_ = true;
        break;
      case DecoderStep::Kind::kMetaspace:
        if (s.replacement.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(s.field, ".replacement: empty"));
        }
        if (s.prepend) d.first_matters_ = true;
        break;
      default:
        break;
    }
  }
  d.steps_ = std::move(steps);
  return d;
}

std::string HfDecoder::DecodeToken(std::string_view token, bool first) const {
  std::string s(token);
  bool fused = false;
  for (const DecoderStep& step : steps_) {
    switch (step.kind) {
      case DecoderStep::Kind::kByteLevel:
        s = ByteLevelDecode(s);
        break;
      case DecoderStep::Kind::kReplace:
        s = step.pattern->ReplaceAll(s, step.content);
        break;
      case DecoderStep::Kind::kByteFallback:
        if (std::optional<unsigned char> b = ParseBytePiece(s)) {
          s.assign(1, static_cast<char>(*b));
        }
        break;
      case DecoderStep::Kind::kFuse:
        fused = true;
        break;
      case DecoderStep::Kind::kStrip: {
        if (fused && !first) break;
        const std::string& c = step.content;
        size_t begin = 0;
        for (int64_t n = 0;
             n < step.start && s.compare(begin, c.size(), c) == 0; ++n) {
          begin += c.size();
        }
        size_t end = s.size();
        for (int64_t n = 0; n < step.stop && end >= begin + c.size() &&
                            s.compare(end - c.size(), c.size(), c) == 0;
             ++n) {
          end -= c.size();
        }
        s = s.substr(begin, end - begin);
        break;
      }
      case DecoderStep::Kind::kMetaspace: {
        std::string out;
        out.reserve(s.size());
        for (size_t pos = 0; pos < s.size();) {
          if (s.compare(pos, step.replacement.size(), step.replacement) == 0) {
            out += ' ';
            pos += step.replacement.size();
          } else {
            out += s[pos++];
          }
        }
        if (first && step.prepend && out.starts_with(' ')) out.erase(0, 1);
        s = std::move(out);
        break;
      }
    }
  }
  return s;
}

}  // namespace headroom::runtime
