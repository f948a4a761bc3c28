#include "runtime/cuda/cuda_backend.h"

#include <cuda_runtime.h>

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_ops.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/kernels.h"
#include "runtime/model/decoder.h"

namespace headroom::runtime {
namespace {

// Checks what the kernels support, then that a device is present.
absl::Status CheckSupported(const ModelConfig& config,
                            const BackendOptions& options) {
  const int d = config.head_dim;
  if (d % 8 != 0 || d > cuda::kMaxHeadDim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda backend: head_dim must be a multiple of 8 and at most ",
        cuda::kMaxHeadDim, ", got ", d));
  }
  if (options.block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda backend: block_size must be positive, got ", options.block_size));
  }
  if (options.num_blocks < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda backend: num_blocks must not be negative, got ",
                     options.num_blocks));
  }
  const int devices = CudaDeviceCount();
  if (devices == 0) {
    return absl::FailedPreconditionError(
        "device: cuda was requested but no CUDA device is present "
        "(cudaGetDeviceCount found none; is the NVIDIA driver loaded and the "
        "GPU visible to this process?)");
  }
  if (options.device_id < 0 || options.device_id >= devices) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda backend: device_id ", options.device_id,
                     " is out of range: ", devices, " device(s) present"));
  }
  int optin = 0;
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(
      &optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, options.device_id));
  const int needed =
      cuda::PagedAttentionSharedBytes(d, cuda::kAttentionMaxRows);
  if (needed > optin) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda backend: head_dim ", d, " needs ", needed,
        " bytes of shared memory per attention block; the device allows ",
        optin));
  }
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaSetDevice(options.device_id));
  HEADROOM_CUDA_RETURN_IF_ERROR(cuda::SetPagedAttentionSharedLimit(needed));
  return absl::OkStatus();
}

}  // namespace

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error of a missing driver
    return 0;
  }
  return count;
}

absl::StatusOr<std::unique_ptr<DeviceOps>> CreateCudaOps(
    ModelWeights weights, const BackendOptions& options) {
  if (auto s = weights.Validate(); !s.ok()) return s;
  if (auto s = CheckSupported(weights.config, options); !s.ok()) return s;
  std::vector<bool> post_rope_proj;
  for (const LayerWeights& layer : weights.layers) {
    post_rope_proj.push_back(layer.has_post_rope_proj());
  }
  auto ops = std::make_unique<cuda::CudaOps>(weights.config, options);
  if (auto s = ops->Allocate(post_rope_proj); !s.ok()) return s;
  if (auto s = ops->Upload(weights); !s.ok()) return s;
  return ops;
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(
    ModelWeights weights, const BackendOptions& options) {
  auto ops = CreateCudaOps(std::move(weights), options);
  if (!ops.ok()) return ops.status();
  return CreateDecoder(std::move(*ops));
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackendWithRandomWeights(
    const ModelConfig& config, const BackendOptions& options, uint64_t seed) {
  if (auto s = config.Validate(); !s.ok()) return s;
  if (auto s = CheckSupported(config, options); !s.ok()) return s;
  auto ops = std::make_unique<cuda::CudaOps>(config, options);
  if (auto s = ops->Allocate(std::vector<bool>(config.n_layers, false));
      !s.ok())
    return s;
  if (auto s = ops->FillRandom(seed); !s.ok()) return s;
  return CreateDecoder(std::move(ops));
}

}  // namespace headroom::runtime
