// Host memory bandwidth as a large memcpy reaches it: the reference for
// memory-bound decode.
#ifndef HEADROOM_BENCH_MEMORY_BANDWIDTH_H_
#define HEADROOM_BENCH_MEMORY_BANDWIDTH_H_

#include <cstdint>

namespace headroom::bench {

struct MemcpyResult {
  int64_t bytes = 0;         // size of one copy
  double seconds = 0.0;      // best of the repeats
  // Bytes moved per second counting the read and the write of each byte
  // (2 * bytes / seconds): comparable with a decode step that reads weights.
  double traffic_bytes_per_second() const { return 2.0 * bytes / seconds; }
};

// Copies a `bytes` buffer `repeats` times on one thread; keeps the fastest.
MemcpyResult MeasureMemcpy(int64_t bytes, int repeats);

}  // namespace headroom::bench

#endif  // HEADROOM_BENCH_MEMORY_BANDWIDTH_H_
