// The metric families headroom-server exports (vLLM's names under the
// `headroom:` prefix, request metrics also by `tenant`, plus the memory
// savings of compression), on one MetricsRegistry.
//
// Names keep the `headroom:` prefix the product documents (dashboards
// translate from vLLM's `vllm:` one-to-one). Prometheus accepts ':' in
// metric names; `promtool check metrics` only lints it ("should not contain
// ':'", reserved for recording rules), and lints the histogram
// iteration_tokens_total for its vLLM name. docs/decisions.md says why these
// lints are accepted; the tests check that nothing else is reported.
#ifndef HEADROOM_SERVER_SERVER_METRICS_H_
#define HEADROOM_SERVER_SERVER_METRICS_H_

#include <string>

#include "server/engine/engine.h"
#include "server/metrics.h"
#include "server/model_setup.h"
#include "server/tenants.h"

namespace headroom::server {

struct ServerMetrics {
  explicit ServerMetrics(MetricsRegistry& registry);

  // The memory-savings gauges, once the model and pool are known.
  void SetModel(const ServedModel& model, int block_size, int num_blocks,
                int64_t kv_cache_memory_bytes, int64_t original_pool_tokens);
  // Copies the engine's and the tenants' state into the gauges (collector).
  void Collect(const EngineStats& stats,
               const std::vector<TenantSnapshot>& tenants);

  MetricsRegistry& registry;
  // Engine state.
  GaugeFamily& num_requests_running;
  GaugeFamily& num_requests_waiting;
  GaugeFamily& kv_cache_usage_perc;
  GaugeFamily& kv_cache_free_blocks;
  GaugeFamily& kv_cache_total_blocks;
  CounterFamily& num_preemptions_total;
  // Prefix caching: pages carrying a hash, and the free ones of them.
  GaugeFamily& kv_cache_cached_blocks;
  GaugeFamily& kv_cache_evictable_blocks;
  HistogramFamily& iteration_tokens_total;
  // Per request, by tenant.
  CounterFamily& prompt_tokens_total;
  CounterFamily& generation_tokens_total;
  CounterFamily& request_success_total;   // {finished_reason, tenant}
  CounterFamily& request_rejected_total;  // {code, tenant}
  // Prompt tokens looked up in the prefix cache and found there (vLLM's
  // prefix_cache_queries / prefix_cache_hits; hit rate = hits / queries).
  CounterFamily& prefix_cache_queries_total;
  CounterFamily& prefix_cache_hits_total;
  // The same by front end: {api (grpc | openai), tenant}.
  CounterFamily& api_requests_total;
  CounterFamily& api_prompt_tokens_total;
  CounterFamily& api_generation_tokens_total;
  HistogramFamily& time_to_first_token_seconds;
  HistogramFamily& inter_token_latency_seconds;
  HistogramFamily& e2e_request_latency_seconds;
  HistogramFamily& request_queue_time_seconds;
  GaugeFamily& tenant_requests_in_flight;
  GaugeFamily& tenant_requests_queued;
  GaugeFamily& tenant_kv_pages_reserved;
  GaugeFamily& tenant_weight;
  // Memory savings.
  GaugeFamily& kv_cache_bytes_per_token;  // {layout}
  GaugeFamily& compression_ratio;
  GaugeFamily& kv_heads;                     // {layer, layout}
  GaugeFamily& kv_cache_capacity_tokens;     // {layout}
  GaugeFamily& kv_cache_capacity_sequences;  // {layout}, full-context seqs
  GaugeFamily& compression_energy_kept;      // {layer, kind}
  GaugeFamily& kv_cache_memory_bytes;
  GaugeFamily& model_info;  // {method, architecture}
  GaugeFamily& ready;
};

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_SERVER_METRICS_H_
