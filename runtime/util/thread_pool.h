// ThreadPool: a fixed set of workers for data-parallel loops on the CPU.
//
//   ThreadPool pool(4);
//   pool.ParallelFor(n, [&](int64_t begin, int64_t end) { ... });
//
// The calling thread takes part in the loop. One ParallelFor at a time per
// pool (calls from several threads are serialised).
//
// Waiting spins for a while (kSpinFor) before it sleeps, on both sides: a
// worker for the next loop, the caller for the last chunk. Waking a sleeping
// thread takes a futex call and, on a virtual machine, an interrupt to
// another vCPU, tens of microseconds; one decoding step runs about ten
// loops per layer, back to back.
#ifndef HEADROOM_RUNTIME_UTIL_THREAD_POOL_H_
#define HEADROOM_RUNTIME_UTIL_THREAD_POOL_H_

#include <atomic>
#include <chrono>
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

  // How long a waiting thread spins before it sleeps.
  static constexpr std::chrono::microseconds kSpinFor{200};

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
  // Written under mu_; read without it by the spinning waits.
  std::atomic<int64_t> pending_chunks_{0};
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;                                          // guarded by mu_
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_UTIL_THREAD_POOL_H_
