#include "bench/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace headroom::bench {

namespace {

// Sums [begin, end): integer adds vectorize without reassociation flags.
uint64_t SumWords(const uint64_t* begin, const uint64_t* end) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  const uint64_t* p = begin;
  for (; p + 4 <= end; p += 4) {
    a += p[0];
    b += p[1];
    c += p[2];
    d += p[3];
  }
  for (; p < end; ++p) a += *p;
  return a + b + c + d;
}

}  // namespace

ReadResult MeasureRead(int64_t bytes, int threads, int repeats) {
  threads = std::max(1, threads);
  const int64_t words = std::max<int64_t>(threads, bytes / 8);
  std::vector<uint64_t> buffer(words);
  for (int64_t i = 0; i < words; ++i) buffer[i] = static_cast<uint64_t>(i);
  ReadResult r;
  r.bytes = words * 8;
  r.threads = threads;
  r.seconds = 1e30;
  std::vector<uint64_t> sums(threads);
  for (int rep = 0; rep < repeats; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) {
      pool.emplace_back([&, t] {
        sums[t] = SumWords(buffer.data() + words * t / threads,
                           buffer.data() + words * (t + 1) / threads);
      });
    }
    sums[0] = SumWords(buffer.data(), buffer.data() + words / threads);
    for (std::thread& th : pool) th.join();
    const auto t1 = std::chrono::steady_clock::now();
    r.seconds =
        std::min(r.seconds, std::chrono::duration<double>(t1 - t0).count());
    uint64_t total = 0;
    for (uint64_t s : sums) total += s;
    buffer[rep % words] = total;  // keep the sums observable
  }
  return r;
}

}  // namespace headroom::bench
