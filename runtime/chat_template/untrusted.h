// Tracking which bytes of a rendering came from untrusted input (MarkedText
// in value.h): the evaluator's rules in one place.
//
//   - concatenation keeps each part's ranges, shifted (Append);
//   - a value a builtin (filter, method), an index or a slice makes from
//     inputs any of which holds untrusted text is untrusted as a whole:
//     every string in it that carries no ranges of its own becomes
//     untrusted (MarkDerived). A string passed through unchanged (`first`,
//     `default`) keeps its own ranges; a trusted one passed through beside
//     untrusted inputs is conservatively marked.
#ifndef HEADROOM_RUNTIME_CHAT_TEMPLATE_UNTRUSTED_H_
#define HEADROOM_RUNTIME_CHAT_TEMPLATE_UNTRUSTED_H_

#include <string_view>
#include <vector>

#include "runtime/chat_template/builtins.h"
#include "runtime/chat_template/value.h"

namespace headroom::runtime::chat_template {

// Appends `text` whose untrusted ranges are `ranges` (relative to `text`)
// to `out`, merging ranges that touch.
void Append(std::string_view text, const std::vector<ByteRange>& ranges,
            MarkedText* out);

// A value's text as `{{ v }}` and `~` print it: a string with its ranges,
// anything else as Python's str, untrusted as a whole when it holds
// untrusted text.
absl::StatusOr<MarkedText> PrintMarked(const Value& v, size_t max_bytes);

// `result` made from untrusted inputs (see the file comment).
Value MarkDerived(const Value& result);

// `result` of a builtin applied to `input` and `args`: MarkDerived when
// any of them holds untrusted text, else unchanged.
Value DerivedFrom(const Value& result, const Value& input,
                  const CallArgs& args);

}  // namespace headroom::runtime::chat_template

#endif  // HEADROOM_RUNTIME_CHAT_TEMPLATE_UNTRUSTED_H_
