// The CUDA backend: the decoder (runtime/model/decoder.h) over the CUDA ops
// (runtime/cuda/cuda_ops.h). Weights and KV pages in fp16 or bf16
// (BackendOptions::dtype), residual stream and softmax in fp32, cuBLAS GEMMs
// for every projection, kernels for the rest (runtime/cuda/kernels.h), paged
// GQA attention whose KV pages are read once per group of t = h / g_l query
// heads. Logits come back to the host for sampling.
#ifndef HEADROOM_RUNTIME_CUDA_CUDA_BACKEND_H_
#define HEADROOM_RUNTIME_CUDA_CUDA_BACKEND_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "runtime/backend.h"
#include "runtime/model/model_weights.h"
#include "runtime/ops/device_ops.h"

namespace headroom::runtime {

// CUDA devices visible to this process (0 when there is no device or no
// driver).
int CudaDeviceCount();

// Takes ownership of `weights` (validated here), uploads them and allocates
// the KV pools on device options.device_id. Fails with FailedPrecondition
// when no CUDA device is present.
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(
    ModelWeights weights, const BackendOptions& options);

// The same device's ops alone (for op tests and CPU-vs-CUDA comparisons).
absl::StatusOr<std::unique_ptr<DeviceOps>> CreateCudaOps(
    ModelWeights weights, const BackendOptions& options);

// A model of `config`'s shape with weights drawn on the device (uniform,
// deterministic in `seed`) and unit norm weights: for benchmarks of models
// too large to build on the host. `config` must not ask for post-RoPE
// projections (every layer folded: W_K has g_l heads).
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackendWithRandomWeights(
    const ModelConfig& config, const BackendOptions& options, uint64_t seed);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_CUDA_CUDA_BACKEND_H_
