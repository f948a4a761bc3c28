// The C entry points of the CUDA backend module (libheadroom_cuda.so), as
// runtime/backend_factory.cc looks them up with dlsym. Both sides are built
// from this tree with the same compiler, so C++ types cross the boundary.
#ifndef HEADROOM_RUNTIME_CUDA_CUDA_MODULE_H_
#define HEADROOM_RUNTIME_CUDA_CUDA_MODULE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/backend.h"
#include "runtime/model/model_weights.h"

extern "C" {

// CudaDeviceCount().
int headroom_cuda_device_count();
using HeadroomCudaDeviceCountFn = int (*)();

// *result = CreateCudaBackend(std::move(*weights), *options).
void headroom_cuda_create_backend(
    headroom::runtime::ModelWeights* weights,
    const headroom::runtime::BackendOptions* options,
    absl::StatusOr<std::unique_ptr<headroom::runtime::Backend>>* result);
using HeadroomCudaCreateBackendFn = void (*)(
    headroom::runtime::ModelWeights*, const headroom::runtime::BackendOptions*,
    absl::StatusOr<std::unique_ptr<headroom::runtime::Backend>>*);

}  // extern "C"

#endif  // HEADROOM_RUNTIME_CUDA_CUDA_MODULE_H_
