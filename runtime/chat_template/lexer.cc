#include "runtime/chat_template/lexer.h"

#include <cerrno>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/tokenizers/utf8_util.h"

namespace headroom::runtime::chat_template {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  Lexer(std::string_view src, const LexerOptions& options)
      : src_(src), options_(options) {}

  absl::StatusOr<std::vector<Token>> Run() {
    size_t pos = 0;
    bool strip_next = false;    // the tag before ended with '-'
    bool line_starting = true;  // the text to come starts a line
    while (pos <= src_.size()) {
      const size_t tag = FindTag(pos);
      std::string text(src_.substr(pos, tag - pos));
      const size_t text_offset = pos;
      if (strip_next) {
        size_t i = 0;
        while (i < text.size() && IsSpace(text[i])) ++i;
        text.erase(0, i);
      }
      if (tag == src_.size()) {
        EmitText(std::move(text), text_offset);
        break;
      }
      const char kind = src_[tag + 1];  // '{', '%' or '#'
      const char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (sign == '-') {
        while (!text.empty() && IsSpace(text.back())) text.pop_back();
      } else if (sign != '+' && kind != '{' && options_.lstrip_blocks) {
        const size_t nl = text.rfind('\n');
        const size_t line_start = nl == std::string::npos ? 0 : nl + 1;
        if (nl != std::string::npos || line_starting) {
          bool blank = true;
          for (size_t i = line_start; i < text.size(); ++i) {
            if (text[i] != ' ' && text[i] != '\t') blank = false;
          }
          if (blank) text.erase(line_start);
        }
      }
      EmitText(std::move(text), text_offset);
      size_t p = tag + 2 + (sign == '-' || sign == '+' ? 1 : 0);
      char end_sign = '\0';
      if (kind == '#') {
        absl::StatusOr<size_t> end = SkipComment(tag, p, &end_sign);
        if (!end.ok()) return end.status();
        p = *end;
      } else {
        tokens_.push_back(
            {kind == '{' ? TokenKind::kVarBegin : TokenKind::kBlockBegin,
             kind == '{' ? "{{" : "{%", 0, 0, tag});
        absl::StatusOr<size_t> end = LexTag(tag, p, kind, &end_sign);
        if (!end.ok()) return end.status();
        p = *end;
      }
      strip_next = end_sign == '-';
      line_starting = false;
      if (kind != '{' && end_sign != '-' && end_sign != '+' &&
          options_.trim_blocks && p < src_.size() && src_[p] == '\n') {
        ++p;
        line_starting = true;
      }
      pos = p;
    }
    tokens_.push_back({TokenKind::kEof, "", 0, 0, src_.size()});
    return std::move(tokens_);
  }

 private:
  absl::Status Error(size_t offset, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("chat template ", DescribePosition(src_, offset), ": ",
                     std::string(what)));
  }

  // Offset of the next "{{", "{%" or "{#" at or after `pos`, else the end.
  size_t FindTag(size_t pos) const {
    while (true) {
      const size_t b = src_.find('{', pos);
      if (b == std::string_view::npos || b + 1 >= src_.size()) {
        return src_.size();
      }
      const char c = src_[b + 1];
      if (c == '{' || c == '%' || c == '#') return b;
      pos = b + 1;
    }
  }

  void EmitText(std::string text, size_t offset) {
    if (text.empty()) return;
    tokens_.push_back({TokenKind::kText, std::move(text), 0, 0, offset});
  }

  absl::StatusOr<size_t> SkipComment(size_t tag, size_t p, char* end_sign) {
    const size_t end = src_.find("#}", p);
    if (end == std::string_view::npos) {
      return Error(tag, "unterminated comment (no '#}')");
    }
    *end_sign = end > p && src_[end - 1] == '-' ? '-' : '\0';
    return end + 2;
  }

  // Expression tokens up to the tag's end; returns the offset after it.
  absl::StatusOr<size_t> LexTag(size_t tag, size_t p, char kind,
                                char* end_sign) {
    const char close = kind == '{' ? '}' : '%';
    int brace_depth = 0;
    while (true) {
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (p >= src_.size()) {
        return Error(tag, kind == '{' ? "unterminated '{{' (no '}}')"
                                      : "unterminated '{%' (no '%}')");
      }
      // The end of the tag, with or without '-' / '+'.
      for (const char sign : {'\0', '-', '+'}) {
        const size_t q = p + (sign == '\0' ? 0 : 1);
        if (sign != '\0' && src_[p] != sign) continue;
        if (q + 1 < src_.size() && src_[q] == close && src_[q + 1] == '}' &&
            (close == '%' || brace_depth == 0)) {
          *end_sign = sign;
          tokens_.push_back(
              {kind == '{' ? TokenKind::kVarEnd : TokenKind::kBlockEnd,
               kind == '{' ? "}}" : "%}", 0, 0, p});
          return q + 2;
        }
      }
      const char c = src_[p];
      if (IsNameStart(c)) {
        size_t q = p;
        while (q < src_.size() && IsNameChar(src_[q])) ++q;
        tokens_.push_back(
            {TokenKind::kName, std::string(src_.substr(p, q - p)), 0, 0, p});
        p = q;
      } else if (IsDigit(c)) {
        absl::StatusOr<size_t> q = LexNumber(p);
        if (!q.ok()) return q.status();
        p = *q;
      } else if (c == '\'' || c == '"') {
        absl::StatusOr<size_t> q = LexString(p);
        if (!q.ok()) return q.status();
        p = *q;
      } else {
        static constexpr std::string_view kTwo[] = {
            "//", "**", "==", "!=", "<=", ">="};
        std::string op;
        for (std::string_view two : kTwo) {
          if (src_.substr(p, 2) == two) op = std::string(two);
        }
        if (op.empty()) {
          static constexpr std::string_view kOne = "+-*/%~|.,:()[]{}=<>";
          if (kOne.find(c) == std::string_view::npos) {
            return Error(p, absl::StrCat("unexpected character '",
                                         std::string(1, c), "'"));
          }
          op = std::string(1, c);
          if (c == '{') ++brace_depth;
          if (c == '}') --brace_depth;
        }
        tokens_.push_back({TokenKind::kOp, op, 0, 0, p});
        p += op.size();
      }
    }
  }

  absl::StatusOr<size_t> LexNumber(size_t p) {
    size_t q = p;
    auto digits = [&]() {
      while (q < src_.size() && (IsDigit(src_[q]) || src_[q] == '_')) ++q;
    };
    digits();
    bool is_float = false;
    if (q + 1 < src_.size() && src_[q] == '.' && IsDigit(src_[q + 1])) {
      is_float = true;
      ++q;
      digits();
    }
    if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
      size_t r = q + 1;
      if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
      if (r < src_.size() && IsDigit(src_[r])) {
        is_float = true;
        q = r;
        digits();
      }
    }
    std::string text;
    for (size_t i = p; i < q; ++i) {
      if (src_[i] != '_') text.push_back(src_[i]);
    }
    Token t{is_float ? TokenKind::kFloat : TokenKind::kInt, text, 0, 0, p};
    errno = 0;
    if (is_float) {
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      t.int_value = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) return Error(p, "integer literal out of range");
    }
    tokens_.push_back(std::move(t));
    return q;
  }

  // A quoted literal with Python's escapes (\n \t \r \b \f \v \a \0-\7
  // octal, \xHH, \uXXXX, \UXXXXXXXX, \\ \' \"); any other backslash stays.
  absl::StatusOr<size_t> LexString(size_t p) {
    const char quote = src_[p];
    std::string value;
    size_t q = p + 1;
    while (true) {
      if (q >= src_.size()) return Error(p, "unterminated string literal");
      const char c = src_[q];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++q;
        continue;
      }
      if (q + 1 >= src_.size()) return Error(p, "unterminated string literal");
      const char e = src_[q + 1];
      q += 2;
      switch (e) {
        case 'n':
          value += '\n';
          break;
        case 't':
          value += '\t';
          break;
        case 'r':
          value += '\r';
          break;
        case 'b':
          value += '\b';
          break;
        case 'f':
          value += '\f';
          break;
        case 'v':
          value += '\v';
          break;
        case 'a':
          value += '\a';
          break;
        case '\\':
        case '\'':
        case '"':
          value += e;
          break;
        case '\n':
          break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (int i = 0; i < n; ++i) {
            const int d = q < src_.size() ? HexDigit(src_[q]) : -1;
            if (d < 0) return Error(q, "truncated \\x, \\u or \\U escape");
            cp = cp * 16 + static_cast<uint32_t>(d);
            ++q;
          }
          if (cp > 0x10FFFF) return Error(q, "escape beyond U+10FFFF");
          AppendUtf8(cp, &value);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int i = 0;
                 i < 2 && q < src_.size() && src_[q] >= '0' && src_[q] <= '7';
                 ++i, ++q) {
              cp = cp * 8 + static_cast<uint32_t>(src_[q] - '0');
            }
            AppendUtf8(cp, &value);
          } else {
            value += '\\';
            value += e;
          }
      }
    }
    tokens_.push_back({TokenKind::kString, std::move(value), 0, 0, p});
    return q + 1;
  }

  std::string_view src_;
  LexerOptions options_;
  std::vector<Token> tokens_;
};

}  // namespace

std::string DescribePosition(std::string_view source, size_t offset) {
  if (offset > source.size()) offset = source.size();
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (source[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return absl::StrCat("line ", line, ", column ", offset - line_start + 1);
}

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source,
                                            const LexerOptions& options) {
  // keep_trailing_newline is off: one final newline is not output.
  if (!source.empty() && source.back() == '\n') {
    source.remove_suffix(1);
    if (!source.empty() && source.back() == '\r') source.remove_suffix(1);
  }
  return Lexer(source, options).Run();
}

}  // namespace headroom::runtime::chat_template
