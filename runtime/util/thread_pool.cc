#include "runtime/util/thread_pool.h"

#include <algorithm>

namespace headroom::runtime {
namespace {

// Spins until done() or ThreadPool::kSpinFor has passed; returns done().
template <typename Done>
bool SpinUntil(Done done) {
  const auto deadline =
      std::chrono::steady_clock::now() + ThreadPool::kSpinFor;
  for (int i = 0;; ++i) {
    if (done()) return true;
    if (i % 64 == 63 && std::chrono::steady_clock::now() > deadline) {
      return done();
    }
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < num_threads; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

// Takes the next chunk of the current loop and runs it outside the lock.
// Returns false when no chunk was left.
bool ThreadPool::RunOneChunk() {
  int64_t begin, end;
  const std::function<void(int64_t, int64_t)>* fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fn_ == nullptr || next_ >= n_) return false;
    begin = next_;
    end = std::min(n_, begin + chunk_);
    next_ = end;
    fn = fn_;
  }
  (*fn)(begin, end);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_chunks_.fetch_sub(1) == 1) done_cv_.notify_all();
  }
  return true;
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    SpinUntil([&] { return generation_.load() != seen; });
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    while (RunOneChunk()) {
    }
  }
}

void ThreadPool::ParallelFor(int64_t n,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> run_lock(run_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A few chunks per thread balance uneven work (ragged attention).
    const int64_t target_chunks = int64_t{num_threads()} * 4;
    chunk_ = std::max<int64_t>(1, (n + target_chunks - 1) / target_chunks);
    n_ = n;
    next_ = 0;
    pending_chunks_.store((n + chunk_ - 1) / chunk_);
    fn_ = &fn;
    generation_.fetch_add(1);
  }
  work_cv_.notify_all();
  while (RunOneChunk()) {
  }
  SpinUntil([&] { return pending_chunks_.load() == 0; });
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return pending_chunks_.load() == 0; });
  fn_ = nullptr;
}

}  // namespace headroom::runtime
