// The entry points of libheadroom_cuda.so, the CUDA backend as a module that
// runtime/backend_factory.cc loads with dlopen when `device: cuda` is asked
// for. Programs therefore never load cuBLAS unless they use the GPU: cuBLAS
// carries ~100 KB of static thread-local storage, which made threads
// created with small stacks (the former metrics server's workers) fail to
// start in every linked program.
#include "runtime/cuda/cuda_module.h"

#include "runtime/cuda/cuda_backend.h"

extern "C" {

int headroom_cuda_device_count() {
  return headroom::runtime::CudaDeviceCount();
}

void headroom_cuda_create_backend(
    headroom::runtime::ModelWeights* weights,
    const headroom::runtime::BackendOptions* options,
    absl::StatusOr<std::unique_ptr<headroom::runtime::Backend>>* result) {
  *result = headroom::runtime::CreateCudaBackend(std::move(*weights), *options);
}

}  // extern "C"
