#include "server/engine/scheduler.h"

#include <algorithm>
#include <utility>

namespace headroom::server {
namespace {

bool RunsBefore(const SequenceView& a, const SequenceView& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  return a.arrival < b.arrival;
}

}  // namespace

ScheduleResult Schedule(const std::vector<SequenceView>& sequences,
                        int free_blocks, const SchedulerLimits& limits,
                        const WaitingOrderHook& reorder_waiting) {
  ScheduleResult result;
  std::vector<SequenceView> running, waiting;
  for (const SequenceView& s : sequences) {
    if (s.num_computed >= s.num_tokens) continue;  // nothing to compute
    (s.running ? running : waiting).push_back(s);
  }
  std::sort(running.begin(), running.end(), RunsBefore);
  std::sort(waiting.begin(), waiting.end(), RunsBefore);

  int tokens_left = limits.max_num_batched_tokens;
  int free = free_blocks;
  auto batch_full = [&] {
    return tokens_left <= 0 ||
           static_cast<int>(result.scheduled.size()) >= limits.max_num_seqs;
  };
  // The tokens `s` computes next and the pages that needs beyond its own.
  auto next_chunk = [&](const SequenceView& s) {
    const int want = std::min(s.num_tokens - s.num_computed, tokens_left);
    // Within the context, so the page count fits an int.
    const int needed = std::max(
        0,
        static_cast<int>(BlocksFor(s.num_computed + want, limits.block_size)) -
            s.num_blocks);
    return std::pair<int, int>{want, needed};
  };
  // Running sequences: the victims of preemption are taken from the back.
  size_t end = running.size();
  for (size_t i = 0; i < end; ++i) {
    const SequenceView& s = running[i];
    if (batch_full()) break;
    const auto [want, needed] = next_chunk(s);
    bool fits = needed <= free;
    while (!fits && end > i + 1) {
      // Preempt the lowest-priority, newest running sequence.
      const SequenceView& victim = running[--end];
      result.preempted.push_back(victim.id);
      free += victim.num_blocks;
      fits = needed <= free;
    }
    if (!fits) {
      // Even alone it cannot grow: preempt it too (it resumes when pages
      // free up; a sequence that never fits is the engine's to reject).
      result.preempted.push_back(s.id);
      free += s.num_blocks;
      end = i;
      break;
    }
    free -= needed;
    tokens_left -= want;
    result.scheduled.push_back({s.id, want, needed});
  }
  // Preempted sequences wait; they are not re-admitted in the same step.
  if (!result.preempted.empty()) return result;

  if (reorder_waiting) reorder_waiting(waiting);
  // Admission leaves one free page per sequence in the batch: each may open
  // a page within its next block_size tokens, and a page a newcomer takes
  // now would otherwise be won back by preempting (and recomputing) someone
  // a few steps later. With nothing in the batch, the first waiting
  // sequence is admitted whenever its chunk fits.
  int reserve =
      limits.admission_reserve ? static_cast<int>(result.scheduled.size()) : 0;
  for (const SequenceView& s : waiting) {
    if (batch_full()) break;
    const auto [want, needed] = next_chunk(s);
    if (needed + reserve > free) break;
    if (limits.admission_reserve) ++reserve;
    free -= needed;
    tokens_left -= want;
    result.scheduled.push_back({s.id, want, needed});
  }
  return result;
}

}  // namespace headroom::server
