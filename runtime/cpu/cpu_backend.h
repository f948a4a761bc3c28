// The CPU backend: the decoder (runtime/model/decoder.h) over the CPU ops
// (runtime/cpu/cpu_ops.h): fp32 activations and KV pages, weights in their
// stored dtype, batch-invariant kernels on a thread pool.
#ifndef HEADROOM_RUNTIME_CPU_CPU_BACKEND_H_
#define HEADROOM_RUNTIME_CPU_CPU_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/backend.h"
#include "runtime/model/model_weights.h"
#include "runtime/ops/device_ops.h"

namespace headroom::runtime {

// Takes ownership of `weights` (validated here) and allocates the KV pools.
absl::StatusOr<std::unique_ptr<Backend>> CreateCpuBackend(
    ModelWeights weights, const BackendOptions& options);
// The same device's ops alone (for op tests and comparisons).
absl::StatusOr<std::unique_ptr<DeviceOps>> CreateCpuOps(
    ModelWeights weights, const BackendOptions& options);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_CPU_CPU_BACKEND_H_
