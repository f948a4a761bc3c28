#include "runtime/cuda/cuda_resources.h"

#include "runtime/cuda/cuda_status.h"

namespace headroom::runtime::cuda {

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(int64_t bytes) {
  DeviceBuffer buffer;
  if (auto s = buffer.Reserve(bytes); !s.ok()) return s;
  return buffer;
}

absl::Status DeviceBuffer::Reserve(int64_t bytes) {
  if (bytes <= bytes_) return absl::OkStatus();
  ptr_.reset();
  bytes_ = 0;
  void* p = nullptr;
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaMalloc(&p, static_cast<size_t>(bytes)));
  ptr_.reset(p);
  bytes_ = bytes;
  return absl::OkStatus();
}

absl::Status PinnedBuffer::Reserve(int64_t bytes) {
  if (bytes <= bytes_) return absl::OkStatus();
  ptr_.reset();
  bytes_ = 0;
  void* p = nullptr;
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaMallocHost(&p, static_cast<size_t>(bytes)));
  ptr_.reset(p);
  bytes_ = bytes;
  return absl::OkStatus();
}

absl::StatusOr<Stream> Stream::Create() {
  Stream stream;
  cudaStream_t s = nullptr;
  HEADROOM_CUDA_RETURN_IF_ERROR(
      cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  stream.stream_.reset(s);
  return stream;
}

absl::StatusOr<CublasHandle> CublasHandle::Create(cudaStream_t stream) {
  CublasHandle handle;
  cublasHandle_t h = nullptr;
  HEADROOM_CUBLAS_RETURN_IF_ERROR(cublasCreate(&h));
  handle.handle_.reset(h);
  HEADROOM_CUBLAS_RETURN_IF_ERROR(cublasSetStream(h, stream));
  return handle;
}

}  // namespace headroom::runtime::cuda
