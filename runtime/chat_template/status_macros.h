// Status propagation for the chat template module's own .cc files.
#ifndef HEADROOM_RUNTIME_CHAT_TEMPLATE_STATUS_MACROS_H_
#define HEADROOM_RUNTIME_CHAT_TEMPLATE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CT_CONCAT_INNER_(a, b) a##b
#define CT_CONCAT_(a, b) CT_CONCAT_INNER_(a, b)

#define CT_RETURN_IF_ERROR(expr)                    \
  do {                                              \
    if (absl::Status _ct_s = (expr); !_ct_s.ok()) { \
      return _ct_s;                                 \
    }                                               \
  } while (0)

#define CT_ASSIGN_OR_RETURN(lhs, expr) \
  CT_ASSIGN_OR_RETURN_(CT_CONCAT_(_ct_or_, __LINE__), lhs, expr)
#define CT_ASSIGN_OR_RETURN_(tmp, lhs, expr) \
  auto tmp = (expr);                         \
  if (!tmp.ok()) return tmp.status();        \
  lhs = std::move(*tmp)

#endif  // HEADROOM_RUNTIME_CHAT_TEMPLATE_STATUS_MACROS_H_
