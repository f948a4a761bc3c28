// The shared-prefix workload of headroom-bench-engine (docs/benchmarks.md):
// requests made of one of `prefixes` system prompts (prefix_tokens each)
// and a user turn of its own (turn_tokens), kept `concurrency` in flight
// (closed loop: a request finishing lets the next in), greedy with
// ignore_eos. The system prompt of request i is drawn at random (seeded),
// so a pool too small for every prefix loses hits gradually rather than
// all at once (round-robin order would defeat LRU completely).
#ifndef HEADROOM_BENCH_PREFIX_WORKLOAD_H_
#define HEADROOM_BENCH_PREFIX_WORKLOAD_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "server/engine/engine.h"

namespace headroom::bench {

struct PrefixWorkload {
  int prefixes = 1;
  int prefix_tokens = 128;
  int turn_tokens = 16;
  int max_tokens = 16;
  int requests = 256;
  int concurrency = 4;
  uint64_t seed = 1;
};

struct PrefixRun {
  double seconds = 0;
  double hit_rate = 0;  // prompt tokens found cached / looked up
  double ttft_p50_ms = 0, ttft_p99_ms = 0;  // submit -> first token
  double tokens_per_s = 0;                  // generated
  int64_t preemptions = 0;
  int64_t steps = 0;
};

// The prompts of `w`: token ids within [3, vocab_size) (BOS first).
std::vector<std::vector<int>> PrefixWorkloadPrompts(const PrefixWorkload& w,
                                                    int bos_id, int vocab_size);

// Runs the workload on `engine` (stepped here, not started).
absl::StatusOr<PrefixRun> RunPrefixWorkload(
    server::Engine& engine, const PrefixWorkload& w,
    const std::vector<std::vector<int>>& prompts);

}  // namespace headroom::bench

#endif  // HEADROOM_BENCH_PREFIX_WORKLOAD_H_
