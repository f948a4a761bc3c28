// Tokens to a syntax tree. The statements: if/elif/else, for (with tuple
// targets, an `if` filter, else, break and continue), set (names, tuples,
// namespace attributes, and the block form with endset), macro, and
// transformers' generation/endgeneration. Expressions follow Jinja's
// precedence: conditional `a if b else c`, or, and, not, comparisons and
// `in` (chained as Python chains them), + -, ~, * / // %, **, unary - +,
// then primaries with `.attr`, `[item]`, `[a:b:c]`, calls, `| filter` and
// `is test`. Anything else (include, extends, block, call, filter blocks,
// raw, ...) is InvalidArgument naming the line and column.
#ifndef HEADROOM_RUNTIME_CHAT_TEMPLATE_PARSER_H_
#define HEADROOM_RUNTIME_CHAT_TEMPLATE_PARSER_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/chat_template/ast.h"
#include "runtime/chat_template/lexer.h"

namespace headroom::runtime::chat_template {

// Deepest nesting of expressions and blocks the parser accepts.
inline constexpr int kMaxParseDepth = 128;

// `source` is the text the tokens came from (for positions in errors).
absl::StatusOr<Body> Parse(const std::vector<Token>& tokens,
                           std::string_view source);

}  // namespace headroom::runtime::chat_template

#endif  // HEADROOM_RUNTIME_CHAT_TEMPLATE_PARSER_H_
