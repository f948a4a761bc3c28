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
  int num_blocks = 0;    // pages held
  bool running = false;  // holds pages / was scheduled before
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
  int new_blocks = 0;  // pages to allocate before the step
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
