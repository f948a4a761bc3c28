// Status propagation inside .cc files: return an error early, or assign the
// value of a StatusOr and return its error.
//
//   HEADROOM_RETURN_IF_ERROR(ops.Rope(layer));
//   HEADROOM_ASSIGN_OR_RETURN(const int window, f.OptionalInt(...));
#ifndef HEADROOM_RUNTIME_UTIL_STATUS_MACROS_H_
#define HEADROOM_RUNTIME_UTIL_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HEADROOM_CONCAT_INNER_(a, b) a##b
#define HEADROOM_CONCAT_(a, b) HEADROOM_CONCAT_INNER_(a, b)

#define HEADROOM_RETURN_IF_ERROR(expr)                          \
  do {                                                          \
    if (absl::Status _headroom_s = (expr); !_headroom_s.ok()) { \
      return _headroom_s;                                       \
    }                                                           \
  } while (0)

#define HEADROOM_ASSIGN_OR_RETURN(lhs, expr)                                 \
  HEADROOM_ASSIGN_OR_RETURN_(HEADROOM_CONCAT_(_headroom_or_, __LINE__), lhs, \
                             expr)
#define HEADROOM_ASSIGN_OR_RETURN_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(*tmp)

#endif  // HEADROOM_RUNTIME_UTIL_STATUS_MACROS_H_
