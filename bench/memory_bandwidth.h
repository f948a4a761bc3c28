// Host memory read bandwidth as threads streaming a large buffer reach it:
// the reference for memory-bound decode.
#ifndef HEADROOM_BENCH_MEMORY_BANDWIDTH_H_
#define HEADROOM_BENCH_MEMORY_BANDWIDTH_H_

#include <cstdint>

namespace headroom::bench {

struct ReadResult {
  int64_t bytes = 0;  // read in one pass (all threads)
  int threads = 1;
  double seconds = 0.0;  // best of the repeats
  double bytes_per_second() const { return bytes / seconds; }
};

// Reads a `bytes` buffer `repeats` times with `threads` threads, each
// summing its own contiguous share (as decoding reads weight rows); keeps
// the fastest pass. The bound for a decode step is this rate over the bytes
// the step reads, at the thread count the step runs with.
ReadResult MeasureRead(int64_t bytes, int threads, int repeats);

}  // namespace headroom::bench

#endif  // HEADROOM_BENCH_MEMORY_BANDWIDTH_H_
