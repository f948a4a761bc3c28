// ThreadPool: a fixed set of workers for data-parallel loops on the CPU.
//
//   ThreadPool pool(4);
//   pool.ParallelFor(n, [&](int64_t begin, int64_t end) { ... });
//
// The calling thread takes part in the loop. One ParallelFor at a time per
// pool (calls from several threads are serialised).
#ifndef HEADROOM_RUNTIME_UTIL_THREAD_POOL_H_
#define HEADROOM_RUNTIME_UTIL_THREAD_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace headroom::runtime {

class ThreadPool {
 public:
  // `num_threads` counts the caller: 1 runs everything inline.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) over disjoint chunks covering [0, n); returns when
  // all chunks are done.
  void ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop();
  bool RunOneChunk();

  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // serialises ParallelFor callers
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;  // guarded by mu_
  int64_t n_ = 0, chunk_ = 1, next_ = 0;                       // guarded by mu_
  int64_t pending_chunks_ = 0;                                 // guarded by mu_
  uint64_t generation_ = 0;                                    // guarded by mu_
  bool stop_ = false;                                          // guarded by mu_
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_UTIL_THREAD_POOL_H_
