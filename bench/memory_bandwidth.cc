#include "bench/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

namespace headroom::bench {

MemcpyResult MeasureMemcpy(int64_t bytes, int repeats) {
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  MemcpyResult r;
  r.bytes = bytes;
  r.seconds = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(dst.data(), src.data(), bytes);
    const auto t1 = std::chrono::steady_clock::now();
    r.seconds = std::min(r.seconds,
                         std::chrono::duration<double>(t1 - t0).count());
    src[i % bytes] = dst[(i * 7919) % bytes];  // keep the copies observable
  }
  return r;
}

}  // namespace headroom::bench
