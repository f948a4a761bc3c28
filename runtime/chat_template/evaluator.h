// Renders a parsed template. Scoping as Jinja's: a `for` body is a scope of
// its own (a `set` inside it is gone after the loop; namespaces carry values
// out), a macro sees the template's top-level names and its parameters, `if`
// makes no scope. Undefined names are Jinja's default Undefined: printed as
// "", false, iterated as empty; an attribute, item, call or arithmetic on
// one is InvalidArgument.
//
// Resource bounds (every one an error, ResourceExhausted, naming the bound):
//   - output and every string built at most max_output_bytes, every list
//     at most kMaxListItems items;
//   - max_steps units of work: one per expression and per loop iteration,
//     plus one per 64 bytes of every string or list built, so time is
//     bounded whatever the loops (Jinja has no while loop; range() is
//     capped at kMaxRange items as Jinja's sandbox caps it);
//   - macro calls nested at most kMaxCallDepth deep.
#ifndef HEADROOM_RUNTIME_CHAT_TEMPLATE_EVALUATOR_H_
#define HEADROOM_RUNTIME_CHAT_TEMPLATE_EVALUATOR_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/chat_template/ast.h"
#include "runtime/chat_template/value.h"

namespace headroom::runtime::chat_template {

inline constexpr int kMaxCallDepth = 32;
inline constexpr int64_t kMaxRange = 100000;
inline constexpr size_t kMaxListItems = 1 << 20;

struct EvalLimits {
  size_t max_output_bytes = 4 << 20;
  int64_t max_steps = 20'000'000;
};

// Renders `body` (parsed from `source`) with `globals` as the top-level
// names (the builtins raise_exception, namespace, range and dict are added
// unless `globals` has those names): the text, with the ranges that came
// from untrusted strings in `globals` (untrusted.h has the rules).
absl::StatusOr<MarkedText> Evaluate(const Body& body, std::string_view source,
                                    const ValueDict& globals,
                                    const EvalLimits& limits);

}  // namespace headroom::runtime::chat_template

#endif  // HEADROOM_RUNTIME_CHAT_TEMPLATE_EVALUATOR_H_
