// Device memory bandwidth as a device-to-device cudaMemcpy reaches it: the
// reference for memory-bound decode on a GPU.
#ifndef HEADROOM_BENCH_CUDA_COPY_BANDWIDTH_H_
#define HEADROOM_BENCH_CUDA_COPY_BANDWIDTH_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace headroom::bench {

struct DeviceCopyResult {
  int64_t bytes = 0;     // size of one copy
  double seconds = 0.0;  // best of the repeats (CUDA events)
  // Read + write traffic per second, 2 * bytes / seconds.
  double traffic_bytes_per_second() const { return 2.0 * bytes / seconds; }
};

// Copies a `bytes` device buffer to another `repeats` times; keeps the
// fastest.
absl::StatusOr<DeviceCopyResult> MeasureDeviceCopy(int64_t bytes, int repeats);

}  // namespace headroom::bench

#endif  // HEADROOM_BENCH_CUDA_COPY_BANDWIDTH_H_
