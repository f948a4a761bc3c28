// Template source to tokens: text between tags, `{{ }}` and `{% %}`
// delimiters, and the expression tokens inside them. Comments `{# #}` are
// dropped. Whitespace control is applied here, as Jinja's lexer does it
// with the settings transformers uses:
//   - one trailing newline of the source is dropped (keep_trailing_newline
//     off);
//   - `{%-`, `{{-`, `{#-` strip all whitespace before the tag, `-%}`, `-}}`,
//     `-#}` all whitespace after it;
//   - trim_blocks: the newline right after `%}` or `#}` is dropped (not
//     after `+%}`);
//   - lstrip_blocks: spaces and tabs between the start of a line and `{%` or
//     `{#` are dropped (not before `{%+`).
#ifndef HEADROOM_RUNTIME_CHAT_TEMPLATE_LEXER_H_
#define HEADROOM_RUNTIME_CHAT_TEMPLATE_LEXER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace headroom::runtime::chat_template {

enum class TokenKind {
  kText,        // text: the literal bytes to output
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,        // text: an identifier (keywords too)
  kString,      // text: the literal's value, escapes resolved
  kInt,         // int_value
  kFloat,       // float_value
  kOp,          // text: an operator or punctuation ("==", "(", "|", ...)
  kEof,
};

struct Token {
  TokenKind kind;
  std::string text;
  int64_t int_value = 0;
  double float_value = 0;
  size_t offset = 0;  // into the source given to Tokenize
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

// Tokens of `source`, ending with kEof. InvalidArgument ("line L, column C:
// ...") for an unterminated tag, comment or string, or a character that
// starts no token.
absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source,
                                            const LexerOptions& options = {});

// "line L, column C" (1-based) of byte `offset` in `source`.
std::string DescribePosition(std::string_view source, size_t offset);

}  // namespace headroom::runtime::chat_template

#endif  // HEADROOM_RUNTIME_CHAT_TEMPLATE_LEXER_H_
