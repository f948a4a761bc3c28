// Status propagation for the chat template module's own .cc files: the
// runtime's macros (runtime/util/status_macros.h) under the module's names.
#ifndef HEADROOM_RUNTIME_CHAT_TEMPLATE_STATUS_MACROS_H_
#define HEADROOM_RUNTIME_CHAT_TEMPLATE_STATUS_MACROS_H_

#include "runtime/util/status_macros.h"

#define CT_RETURN_IF_ERROR(expr) HEADROOM_RETURN_IF_ERROR(expr)
#define CT_ASSIGN_OR_RETURN(lhs, expr) HEADROOM_ASSIGN_OR_RETURN(lhs, expr)

#endif  // HEADROOM_RUNTIME_CHAT_TEMPLATE_STATUS_MACROS_H_
