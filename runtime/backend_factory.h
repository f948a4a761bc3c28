// Chooses and creates the backend for a device named in configuration
// (`device: cpu | cuda`, `dtype: float16 | bfloat16`).
#ifndef HEADROOM_RUNTIME_BACKEND_FACTORY_H_
#define HEADROOM_RUNTIME_BACKEND_FACTORY_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/backend.h"
#include "runtime/model/model_weights.h"

namespace headroom::runtime {

enum class Device { kCpu, kCuda };

// "cpu" or "cuda"; the error names the value and the choices.
absl::StatusOr<Device> ParseDevice(std::string_view name);
const char* DeviceName(Device device);
// "float16" (or "fp16") or "bfloat16" (or "bf16").
absl::StatusOr<LowPrecision> ParseLowPrecision(std::string_view name);
const char* LowPrecisionName(LowPrecision dtype);

// Whether this build has the CUDA backend (configured with nvcc present);
// it lives in the module libheadroom_cuda.so, loaded on first use.
bool CudaBackendBuilt();

// Bytes one cached K or V value takes on `device`: 4 (fp32) on the CPU, 2
// (fp16 / bf16) on CUDA.
int64_t KvBytesPerValue(Device device);
// Bytes of one KV page of every layer, K and V, for the served layout.
int64_t KvBytesPerBlock(const ModelConfig& config, int block_size,
                        Device device);

// OK when `device` can run a backend: always for cpu; for cuda, the build
// has the CUDA backend module, it loads, and a device is present. The error
// says which is missing (FailedPrecondition).
absl::Status CheckDeviceAvailable(Device device);

// The backend for `device`. cuda fails with FailedPrecondition when the
// build has no CUDA backend or no device is present.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(
    Device device, ModelWeights weights, const BackendOptions& options);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_BACKEND_FACTORY_H_
