#include "runtime/tokenizers/hf_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/tokenizers/utf8_util.h"

namespace headroom::runtime {

struct HfRegex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

namespace {

absl::StatusOr<pcre2_code*> CompileCode(std::string_view pattern,
                                        uint32_t extra_options,
                                        std::string_view field) {
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(
      reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | extra_options, &error,
      &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(field), ": regex \"", std::string(pattern),
        "\" does not compile (PCRE2: ", reinterpret_cast<const char*>(message),
        " at offset ", error_offset, ")"));
  }
  // JIT is a speed-up only: without it (no JIT support on this CPU) the
  // interpreter gives the same matches.
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return code;
}

}  // namespace

std::string OnigurumaToPcre2(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  int class_depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      ++i;
      if (e == 's') {
        out += class_depth > 0 ? "\\s\\x{85}" : "[\\s\\x{85}]";
      } else if (e == 'S' && class_depth == 0) {
        out += "[^\\s\\x{85}]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (c == '[') {
      ++class_depth;
      out += c;
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out += c;
  }
  return out;
}

absl::StatusOr<HfRegex> HfRegex::Compile(std::string_view pattern,
                                         std::string_view field) {
  absl::StatusOr<pcre2_code*> code =
      CompileCode(OnigurumaToPcre2(pattern), PCRE2_UCP, field);
  if (!code.ok()) return code.status();
  auto holder = std::make_shared<Code>();
  holder->code = *code;
  return HfRegex(std::move(holder));
}

absl::StatusOr<HfRegex> HfRegex::Literal(std::string_view literal,
                                         std::string_view field) {
  if (literal.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(field), ": the string pattern is empty"));
  }
  // PCRE2_LITERAL takes no PCRE2_UCP (nothing to classify).
  absl::StatusOr<pcre2_code*> code = CompileCode(literal, PCRE2_LITERAL, field);
  if (!code.ok()) return code.status();
  auto holder = std::make_shared<Code>();
  holder->code = *code;
  return HfRegex(std::move(holder));
}

std::vector<std::pair<size_t, size_t>> HfRegex::FindAll(
    std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> spans;
  pcre2_match_data* md =
      pcre2_match_data_create_from_pattern(code_->code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset <= text.size()) {
    int rc =
        pcre2_match(code_->code, subject, text.size(), offset, 0, md, nullptr);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
      // The JIT's stack ran out (a very long match): the interpreter keeps
      // its backtracking state on the heap.
      rc = pcre2_match(code_->code, subject, text.size(), offset, PCRE2_NO_JIT,
                       md, nullptr);
    }
    if (rc < 0) break;  // no further match (or a match limit hit)
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t begin = ov[0];
    const size_t end = ov[1];
    if (end > begin) {
      spans.emplace_back(begin, end);
      offset = end;
    } else {
      if (begin >= text.size()) break;
      const size_t len = Utf8CharLength(text, begin);
      offset = begin + (len == 0 ? 1 : len);
    }
  }
  pcre2_match_data_free(md);
  return spans;
}

std::string HfRegex::ReplaceAll(std::string_view text,
                                std::string_view replacement) const {
  std::string out;
  out.reserve(text.size());
  size_t last = 0;
  for (const auto& [begin, end] : FindAll(text)) {
    out.append(text.substr(last, begin - last));
    out.append(replacement);
    last = end;
  }
  out.append(text.substr(last));
  return out;
}

}  // namespace headroom::runtime
