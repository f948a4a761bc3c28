// RAII owners of CUDA resources: device and pinned host memory, a stream, a
// cuBLAS handle. Each is created through a factory returning StatusOr and
// releases its resource in the destructor; all are move-only.
#ifndef HEADROOM_RUNTIME_CUDA_CUDA_RESOURCES_H_
#define HEADROOM_RUNTIME_CUDA_CUDA_RESOURCES_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

namespace headroom::runtime::cuda {

namespace internal {
struct DeviceFree {
  void operator()(void* p) const { cudaFree(p); }
};
struct HostFree {
  void operator()(void* p) const { cudaFreeHost(p); }
};
struct StreamDestroy {
  void operator()(CUstream_st* s) const { cudaStreamDestroy(s); }
};
struct CublasDestroy {
  void operator()(cublasContext* h) const { cublasDestroy(h); }
};
}  // namespace internal

// Device memory of `bytes` bytes (uninitialized).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  static absl::StatusOr<DeviceBuffer> Allocate(int64_t bytes);

  void* get() const { return ptr_.get(); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_.get());
  }
  int64_t bytes() const { return bytes_; }

  // Reallocates (contents lost) when smaller than `bytes`.
  absl::Status Reserve(int64_t bytes);

 private:
  std::unique_ptr<void, internal::DeviceFree> ptr_;
  int64_t bytes_ = 0;
};

// Page-locked host memory, for asynchronous copies.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  absl::Status Reserve(int64_t bytes);
  void* get() const { return ptr_.get(); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_.get());
  }

 private:
  std::unique_ptr<void, internal::HostFree> ptr_;
  int64_t bytes_ = 0;
};

class Stream {
 public:
  static absl::StatusOr<Stream> Create();
  cudaStream_t get() const { return stream_.get(); }

 private:
  std::unique_ptr<CUstream_st, internal::StreamDestroy> stream_;
};

class CublasHandle {
 public:
  // A handle whose work runs on `stream`.
  static absl::StatusOr<CublasHandle> Create(cudaStream_t stream);
  cublasHandle_t get() const { return handle_.get(); }

 private:
  std::unique_ptr<cublasContext, internal::CublasDestroy> handle_;
};

}  // namespace headroom::runtime::cuda

#endif  // HEADROOM_RUNTIME_CUDA_CUDA_RESOURCES_H_
