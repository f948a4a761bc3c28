#include "server/server_metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace headroom::server {
namespace {

// Bucket bounds as vLLM uses them (seconds; tokens for iterations).
const std::vector<double> kTtftBuckets = {
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25, 0.5,
    0.75,  1.0,   2.5,  5.0,  7.5,  10.0, 20.0, 40.0, 80.0};
const std::vector<double> kItlBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15,
    0.2,   0.3,    0.4,   0.5,  0.75,  1.0,  2.5,   5.0, 10.0};
const std::vector<double> kE2eBuckets = {
    0.01, 0.05, 0.1,  0.3,  0.5,  0.8,  1.0,  1.5,  2.0,  2.5,
    5.0,  10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0};
const std::vector<double> kIterationBuckets = {
    1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};

}  // namespace

ServerMetrics::ServerMetrics(MetricsRegistry& r)
    : registry(r),
      num_requests_running(r.AddGauge(
          "headroom:num_requests_running",
          "Sequences holding KV pages (being prefilled or decoded).")),
      num_requests_waiting(r.AddGauge("headroom:num_requests_waiting",
                                      "Sequences queued in the engine.")),
      kv_cache_usage_perc(
          r.AddGauge("headroom:kv_cache_usage_perc",
                     "Fraction of KV pages in use, 0 to 1 (as vLLM's).")),
      kv_cache_free_blocks(
          r.AddGauge("headroom:kv_cache_free_blocks", "Free KV pages.")),
      kv_cache_total_blocks(r.AddGauge("headroom:kv_cache_total_blocks",
                                       "KV pages in the pool.")),
      num_preemptions_total(r.AddCounter(
          "headroom:num_preemptions_total",
          "Sequences preempted (pages given back, recomputed later).")),
      kv_cache_cached_blocks(r.AddGauge(
          "headroom:kv_cache_cached_blocks",
          "KV pages in the prefix cache (findable by hash), in use or not.")),
      kv_cache_evictable_blocks(r.AddGauge(
          "headroom:kv_cache_evictable_blocks",
          "Cached KV pages no request uses: free, reused until evicted.")),
      iteration_tokens_total(
          r.AddHistogram("headroom:iteration_tokens_total",
                         "Tokens computed per engine step (vLLM's name).", {},
                         kIterationBuckets)),
      prompt_tokens_total(r.AddCounter("headroom:prompt_tokens_total",
                                       "Prompt tokens admitted.", {"tenant"})),
      generation_tokens_total(r.AddCounter("headroom:generation_tokens_total",
                                           "Tokens generated.", {"tenant"})),
      request_success_total(r.AddCounter("headroom:request_success_total",
                                         "Requests finished, by finish reason.",
                                         {"finished_reason", "tenant"})),
      request_rejected_total(r.AddCounter(
          "headroom:request_rejected_total",
          "Requests refused before generation, by gRPC status code.",
          {"code", "tenant"})),
      prefix_cache_queries_total(r.AddCounter(
          "headroom:prefix_cache_queries_total",
          "Prompt tokens looked up in the prefix cache at admission.",
          {"tenant"})),
      prefix_cache_hits_total(r.AddCounter(
          "headroom:prefix_cache_hits_total",
          "Prompt tokens found in the prefix cache (not computed).",
          {"tenant"})),
      api_requests_total(
          r.AddCounter("headroom:api_requests_total",
                       "Requests admitted, by front end (grpc or openai).",
                       {"api", "tenant"})),
      api_prompt_tokens_total(r.AddCounter(
          "headroom:api_prompt_tokens_total",
          "Prompt tokens admitted, by front end.", {"api", "tenant"})),
      api_generation_tokens_total(
          r.AddCounter("headroom:api_generation_tokens_total",
                       "Tokens generated, by front end.", {"api", "tenant"})),
      time_to_first_token_seconds(r.AddHistogram(
          "headroom:time_to_first_token_seconds",
          "Arrival to first generated token.", {"tenant"}, kTtftBuckets)),
      inter_token_latency_seconds(r.AddHistogram(
          "headroom:inter_token_latency_seconds",
          "Time between consecutive generated tokens of a request.", {"tenant"},
          kItlBuckets)),
      e2e_request_latency_seconds(r.AddHistogram(
          "headroom:e2e_request_latency_seconds",
          "Arrival to the final message.", {"tenant"}, kE2eBuckets)),
      request_queue_time_seconds(
          r.AddHistogram("headroom:request_queue_time_seconds",
                         "Arrival to first scheduled by the engine.",
                         {"tenant"}, kE2eBuckets)),
      tenant_requests_in_flight(r.AddGauge(
          "headroom:tenant_requests_in_flight",
          "Requests of the tenant admitted and not finished.", {"tenant"})),
      tenant_requests_queued(r.AddGauge(
          "headroom:tenant_requests_queued",
          "Requests of the tenant admitted without a first token yet.",
          {"tenant"})),
      tenant_kv_pages_reserved(r.AddGauge(
          "headroom:tenant_kv_pages_reserved",
          "Worst-case KV pages reserved by the tenant's requests in flight.",
          {"tenant"})),
      tenant_weight(r.AddGauge("headroom:tenant_weight",
                               "The tenant's fair-share weight.", {"tenant"})),
      kv_cache_bytes_per_token(r.AddGauge(
          "headroom:kv_cache_bytes_per_token",
          "KV cache bytes per token, all layers, K and V, in the original "
          "and the served (compressed) layout.",
          {"layout"})),
      compression_ratio(
          r.AddGauge("headroom:compression_ratio",
                     "KV bytes per token, original over served.")),
      kv_heads(r.AddGauge("headroom:kv_heads",
                          "KV heads per layer, original and served.",
                          {"layer", "layout"})),
      kv_cache_capacity_tokens(r.AddGauge(
          "headroom:kv_cache_capacity_tokens",
          "Tokens the KV memory budget holds in each layout.", {"layout"})),
      kv_cache_capacity_sequences(r.AddGauge(
          "headroom:kv_cache_capacity_sequences",
          "Full-context sequences the KV memory budget holds in each layout.",
          {"layout"})),
      compression_energy_kept(r.AddGauge(
          "headroom:compression_energy_kept",
          "Fraction of the calibration energy of keys / values each layer "
          "keeps (1 when uncompressed).",
          {"layer", "kind"})),
      kv_cache_memory_bytes(r.AddGauge("headroom:kv_cache_memory_bytes",
                                       "The KV memory budget in bytes.")),
      model_info(r.AddGauge("headroom:model_info",
                            "1, labelled with the served model's method.",
                            {"architecture", "method"})),
      ready(r.AddGauge("headroom:ready",
                       "1 when the model is loaded and the server is not "
                       "draining.")) {
  // Children with no labels exist from the start, so every family shows a
  // sample (0) before the model is loaded.
  num_requests_running.WithLabels({});
  num_requests_waiting.WithLabels({});
  kv_cache_usage_perc.WithLabels({});
  kv_cache_free_blocks.WithLabels({});
  kv_cache_total_blocks.WithLabels({});
  num_preemptions_total.WithLabels({});
  kv_cache_cached_blocks.WithLabels({});
  kv_cache_evictable_blocks.WithLabels({});
  iteration_tokens_total.WithLabels({});
  compression_ratio.WithLabels({});
  kv_cache_memory_bytes.WithLabels({});
  ready.WithLabels({});
}

void ServerMetrics::SetModel(const ServedModel& m, int block_size,
                             int num_blocks, int64_t budget,
                             int64_t original_pool_tokens) {
  kv_cache_bytes_per_token.WithLabels({"original"})
      .Set(static_cast<double>(m.kv_bytes_per_token_original));
  kv_cache_bytes_per_token.WithLabels({"served"})
      .Set(static_cast<double>(m.kv_bytes_per_token_served));
  compression_ratio.WithLabels({}).Set(
      m.kv_bytes_per_token_served > 0
          ? static_cast<double>(m.kv_bytes_per_token_original) /
                static_cast<double>(m.kv_bytes_per_token_served)
          : 1.0);
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const std::string layer = absl::StrCat(l);
    kv_heads.WithLabels({layer, "original"}).Set(m.layers[l].kv_heads_original);
    kv_heads.WithLabels({layer, "served"}).Set(m.layers[l].kv_heads_served);
    compression_energy_kept.WithLabels({layer, "key"})
        .Set(m.layers[l].key_energy);
    compression_energy_kept.WithLabels({layer, "value"})
        .Set(m.layers[l].value_energy);
  }
  const int64_t served_tokens = int64_t{num_blocks} * block_size;
  kv_cache_capacity_tokens.WithLabels({"original"})
      .Set(static_cast<double>(original_pool_tokens));
  kv_cache_capacity_tokens.WithLabels({"served"})
      .Set(static_cast<double>(served_tokens));
  const int context = std::max(1, m.weights.config.max_seq_len);
  kv_cache_capacity_sequences.WithLabels({"original"})
      .Set(static_cast<double>(original_pool_tokens / context));
  kv_cache_capacity_sequences.WithLabels({"served"})
      .Set(static_cast<double>(served_tokens / context));
  kv_cache_memory_bytes.WithLabels({}).Set(static_cast<double>(budget));
  model_info.WithLabels({"llama", m.method}).Set(1);
}

void ServerMetrics::Collect(const EngineStats& s,
                            const std::vector<TenantSnapshot>& tenants) {
  num_requests_running.WithLabels({}).Set(s.running);
  num_requests_waiting.WithLabels({}).Set(s.waiting);
  kv_cache_free_blocks.WithLabels({}).Set(s.free_blocks);
  kv_cache_total_blocks.WithLabels({}).Set(s.total_blocks);
  kv_cache_usage_perc.WithLabels({}).Set(
      s.total_blocks > 0
          ? 1.0 - static_cast<double>(s.free_blocks) / s.total_blocks
          : 0.0);
  num_preemptions_total.WithLabels({}).SetTotal(
      static_cast<double>(s.preemptions));
  kv_cache_cached_blocks.WithLabels({}).Set(s.cached_blocks);
  kv_cache_evictable_blocks.WithLabels({}).Set(s.evictable_blocks);
  for (const TenantSnapshot& t : tenants) {
    tenant_requests_in_flight.WithLabels({t.name}).Set(t.in_flight);
    tenant_requests_queued.WithLabels({t.name}).Set(t.queued);
    tenant_kv_pages_reserved.WithLabels({t.name}).Set(t.reserved_pages);
    tenant_weight.WithLabels({t.name}).Set(t.weight);
  }
}

}  // namespace headroom::server
