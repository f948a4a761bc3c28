#include "server/engine/scheduler.h"

#include <algorithm>
#include <set>
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
  // The tokens `s` computes next, the pages that needs beyond its own, and
  // the free pages it takes (those plus a waiting one's evictable hits).
  struct Chunk {
    int want = 0, new_blocks = 0, cost = 0;
  };
  auto next_chunk = [&](const SequenceView& s) {
    Chunk c;
    c.want = std::min(s.num_tokens - s.num_computed, tokens_left);
    // Within the context, so the page count fits an int.
    c.new_blocks =
        std::max(0, static_cast<int>(
                        BlocksFor(s.num_computed + c.want, limits.block_size)) -
                        s.num_blocks);
    c.cost = c.new_blocks + (s.running ? 0 : s.num_evictable_hits);
    return c;
  };
  // Pages that the sequences in the batch are computing now.
  std::set<uint64_t> computing;
  auto add = [&](const SequenceView& s, const Chunk& c) {
    free -= c.cost;
    tokens_left -= c.want;
    result.scheduled.push_back({s.id, c.want, c.new_blocks});
    if (s.next_page_key != 0) computing.insert(s.next_page_key);
  };
  auto freed_by_preempting = [](const SequenceView& s) {
    return s.num_blocks - s.num_shared_blocks;
  };
  // Running sequences: the victims of preemption are taken from the back.
  size_t end = running.size();
  for (size_t i = 0; i < end; ++i) {
    const SequenceView& s = running[i];
    if (batch_full()) break;
    const Chunk c = next_chunk(s);
    bool fits = c.cost <= free;
    while (!fits && end > i + 1) {
      // Preempt the lowest-priority, newest running sequence.
      const SequenceView& victim = running[--end];
      result.preempted.push_back(victim.id);
      free += freed_by_preempting(victim);
      fits = c.cost <= free;
    }
    if (!fits) {
      // Even alone it cannot grow: preempt it too (it resumes when pages
      // free up; a sequence that never fits is the engine's to reject).
      result.preempted.push_back(s.id);
      free += freed_by_preempting(s);
      end = i;
      break;
    }
    add(s, c);
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
    // Its next page is being computed: share it next step (not a stop:
    // the ones behind it may go).
    if (s.next_page_key != 0 && computing.count(s.next_page_key) > 0) {
      continue;
    }
    const Chunk c = next_chunk(s);
    if (c.cost + reserve > free) break;
    if (limits.admission_reserve) ++reserve;
    add(s, c);
  }
  return result;
}

}  // namespace headroom::server
