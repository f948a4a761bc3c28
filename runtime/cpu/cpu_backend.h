// CpuBackend: the fp32 forward pass on the host with OpenBLAS GEMMs and a
// thread pool for attention.
#ifndef HEADROOM_RUNTIME_CPU_CPU_BACKEND_H_
#define HEADROOM_RUNTIME_CPU_CPU_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/backend.h"
#include "runtime/model/model_weights.h"

namespace headroom::runtime {

// Takes ownership of `weights` (validated here) and allocates the KV pools.
absl::StatusOr<std::unique_ptr<Backend>> CreateCpuBackend(
    ModelWeights weights, const BackendOptions& options);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_CPU_CPU_BACKEND_H_
