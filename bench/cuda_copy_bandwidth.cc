#include "bench/cuda_copy_bandwidth.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <memory>

#include "runtime/cuda/cuda_resources.h"
#include "runtime/cuda/cuda_status.h"

namespace headroom::bench {
namespace {

struct EventDestroy {
  void operator()(CUevent_st* e) const { cudaEventDestroy(e); }
};
using Event = std::unique_ptr<CUevent_st, EventDestroy>;

absl::StatusOr<Event> MakeEvent() {
  cudaEvent_t e = nullptr;
  HEADROOM_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e));
  return Event(e);
}

}  // namespace

absl::StatusOr<DeviceCopyResult> MeasureDeviceCopy(int64_t bytes, int repeats) {
  auto src = runtime::cuda::DeviceBuffer::Allocate(bytes);
  if (!src.ok()) return src.status();
  auto dst = runtime::cuda::DeviceBuffer::Allocate(bytes);
  if (!dst.ok()) return dst.status();
  auto stream = runtime::cuda::Stream::Create();
  if (!stream.ok()) return stream.status();
  auto start = MakeEvent();
  if (!start.ok()) return start.status();
  auto stop = MakeEvent();
  if (!stop.ok()) return stop.status();
  HEADROOM_CUDA_RETURN_IF_ERROR(
      cudaMemsetAsync(src->get(), 1, bytes, stream->get()));
  DeviceCopyResult result;
  result.bytes = bytes;
  result.seconds = 1e30;
  for (int r = 0; r < repeats + 1; ++r) {  // the first run warms up
    HEADROOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(start->get(), stream->get()));
    HEADROOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst->get(), src->get(), bytes,
                                                  cudaMemcpyDeviceToDevice,
                                                  stream->get()));
    HEADROOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(stop->get(), stream->get()));
    HEADROOM_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop->get()));
    float ms = 0.0f;
    HEADROOM_CUDA_RETURN_IF_ERROR(
        cudaEventElapsedTime(&ms, start->get(), stop->get()));
    if (r > 0) result.seconds = std::min(result.seconds, ms / 1000.0);
  }
  return result;
}

}  // namespace headroom::bench
