// Scheduler: one engine iteration's choice, as a pure function of the
// sequences' states and the free pages (no threads, no memory).
//
//   ScheduleResult r = Schedule(sequences, free_blocks, limits);
//
// Policy (iteration-level / continuous batching):
//   1. running sequences first, by (priority desc, arrival asc): each gets
//      its next token (decode) or its next prefill chunk, under
//      max_num_batched_tokens; when pages run out, the lowest-priority,
//      newest running sequence is preempted (recompute: it gives back all
//      its pages and later recomputes its prompt and output so far);
//   2. then waiting sequences in order (priority desc, arrival asc, unless a
//      fairness hook reorders them), chunked prefill, while tokens, sequence
//      slots and pages last, keeping one free page per sequence in the
//      batch (room to grow, so admissions do not cause preemptions); a
//      waiting sequence that does not fit stops the admission (no
//      overtaking within the order).
// Prefix caching (kv_cache_manager.h): a waiting sequence comes with the
// cached pages it would share (num_computed and num_blocks count them, and
// those of them now free cost free pages as new ones do); preempting a
// sequence frees only the pages no one else holds; and a waiting sequence
// whose next page another sequence in the batch computes right now (the
// same next_page_key: e.g. the n samples of one prompt) waits a step and
// then shares that page instead of computing it twice.
#ifndef HEADROOM_SERVER_ENGINE_SCHEDULER_H_
#define HEADROOM_SERVER_ENGINE_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "server/engine/request_limits.h"

namespace headroom::server {

struct SequenceView {
  int64_t id = 0;
  int priority = 0;     // higher runs first
  int64_t arrival = 0;  // submission order
  std::string tenant;
  int num_tokens = 0;    // prompt + generated so far
  int num_computed = 0;  // tokens whose K/V are in the cache
  int num_blocks = 0;    // pages held (waiting: its cached prefix's)
  bool running = false;  // holds pages / was scheduled before
  // Waiting: pages of its cached prefix that are free now (evictable).
  int num_evictable_hits = 0;
  // Running: pages it holds that other sequences hold too (preempting it
  // does not free them).
  int num_shared_blocks = 0;
  // The page it computes next, 0 = none to share (KvCacheManager).
  uint64_t next_page_key = 0;
};

struct SchedulerLimits {
  int max_num_batched_tokens = 512;
  int max_num_seqs = 64;
  int block_size = 16;
  // Admission keeps one free page per sequence in the batch (see Schedule).
  bool admission_reserve = true;
};

struct ScheduledChunk {
  int64_t id = 0;
  int num_tokens = 0;  // tokens to compute this step, from num_computed
  int new_blocks = 0;  // pages to allocate before the step (beyond the
                       // cached prefix a waiting sequence shares)
};

struct ScheduleResult {
  std::vector<ScheduledChunk> scheduled;
  std::vector<int64_t> preempted;  // give back every page, recompute later
};

// Reorders the waiting sequences (e.g. weighted fair share across tenants);
// called with them in (priority, arrival) order.
using WaitingOrderHook = std::function<void(std::vector<SequenceView>&)>;

ScheduleResult Schedule(const std::vector<SequenceView>& sequences,
                        int free_blocks, const SchedulerLimits& limits,
                        const WaitingOrderHook& reorder_waiting = nullptr);

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_ENGINE_SCHEDULER_H_
