#include "bench/prefix_workload.h"

#include <chrono>
#include <random>

#include "bench/latency_stats.h"

namespace headroom::bench {

std::vector<std::vector<int>> PrefixWorkloadPrompts(const PrefixWorkload& w,
                                                    int bos_id,
                                                    int vocab_size) {
  const int span = vocab_size - 3;  // ids 0..2: unk, bos, eos
  std::mt19937_64 rng(w.seed);
  std::vector<std::vector<int>> prompts;
  for (int i = 0; i < w.requests; ++i) {
    const int p = static_cast<int>(rng() % static_cast<uint64_t>(w.prefixes));
    std::vector<int> ids = {bos_id};
    for (int t = 1; t < w.prefix_tokens; ++t) {
      ids.push_back(3 + static_cast<int>((p * 7919 + t * 131) % span));
    }
    for (int t = 0; t < w.turn_tokens; ++t) {
      ids.push_back(3 + static_cast<int>(rng() % static_cast<uint64_t>(span)));
    }
    prompts.push_back(std::move(ids));
  }
  return prompts;
}

absl::StatusOr<PrefixRun> RunPrefixWorkload(
    server::Engine& engine, const PrefixWorkload& w,
    const std::vector<std::vector<int>>& prompts) {
  std::vector<double> ttft;
  int finished = 0;
  size_t next = 0;
  auto on_event = [&](const server::EngineEvent& e) {
    if (!e.finished) return;
    ++finished;
    ttft.push_back(e.usage.time_to_first_token * 1e3);
  };
  const auto t0 = std::chrono::steady_clock::now();
  while (finished < static_cast<int>(prompts.size())) {
    while (next < prompts.size() &&
           static_cast<int>(next) - finished < w.concurrency) {
      server::GenerateRequest r;
      r.prompt_ids = prompts[next++];
      r.max_tokens = w.max_tokens;
      r.ignore_eos = true;
      r.sampling.temperature = 0.0f;
      if (auto id = engine.Submit(r, on_event); !id.ok()) return id.status();
    }
    if (auto s = engine.Step(); !s.ok()) return s;
  }
  PrefixRun run;
  run.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  const server::EngineStats st = engine.stats();
  run.hit_rate = st.prefix_cache_queries > 0
                     ? static_cast<double>(st.prefix_cache_hits) /
                           static_cast<double>(st.prefix_cache_queries)
                     : 0.0;
  run.ttft_p50_ms = Percentile(ttft, 50);
  run.ttft_p99_ms = Percentile(ttft, 99);
  run.tokens_per_s = static_cast<double>(st.generated_tokens) / run.seconds;
  run.preemptions = st.preemptions;
  run.steps = st.steps;
  return run;
}

}  // namespace headroom::bench
