// headroom-bench-engine: generated tokens/s of the engine against the number
// of concurrent sequences, for the original model and compressed variants
// under the same KV memory budget, side by side in one run.
//
//   headroom-bench-engine --model PATH [--projections A.st,B.st]
//       [--kv-cache-bytes N] [--concurrency 1,2,4,8,16,32,64]
//       [--prompt-tokens 64] [--max-tokens 64] [--threads 1]
//
// Every request is greedy with ignore_eos, so each generates exactly
// --max-tokens tokens. Per run: tokens/s, preemptions, pool size, and the
// per-step time split (engine: schedule / forward / sample; backend:
// GEMMs / attention / other). One JSON line per run.
//
// With --prefixes 1,4,16,... it runs the shared-prefix workload instead
// (bench/prefix_workload.h): for each variant, number of distinct system
// prompts and prefix caching off / on, the hit rate, TTFT p50 / p99 and
// tokens/s, with --prefix-tokens, --turn-tokens, --requests and the first
// --concurrency level.
#include <chrono>
#include <iostream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/prefix_workload.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/kv/kv_cache.h"
#include "server/engine/engine.h"
#include "tools/cli_args.h"
#include "tools/model_bundle.h"

namespace headroom::bench {
namespace {

struct Variant {
  std::string name;
  std::string projections;  // "" = original
};

// --name as positive integers separated by commas.
absl::StatusOr<std::vector<int>> PositiveList(const tools::CliArgs& args,
                                              const std::string& name,
                                              const std::string& fallback) {
  std::vector<int> out;
  for (absl::string_view v : absl::StrSplit(args.Get(name, fallback), ',')) {
    int n;
    if (!absl::SimpleAtoi(v, &n) || n <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", name, " expects positive integers separated by commas"));
    }
    out.push_back(n);
  }
  return out;
}

// The shared-prefix sweep of one variant: a fresh engine per run, caching
// off and on alternating for each number of prefixes.
absl::Status PrefixSweep(const tools::CliArgs& args, const std::string& name,
                         const runtime::ModelWeights& weights,
                         std::shared_ptr<const runtime::Tokenizer> tokenizer,
                         const runtime::BackendOptions& b, int concurrency) {
  auto counts = PositiveList(args, "prefixes", "1");
  if (!counts.ok()) return counts.status();
  PrefixWorkload w;
  w.concurrency = concurrency;
  for (auto [flag, field] :
       {std::pair<const char*, int*>{"prefix-tokens", &w.prefix_tokens},
        {"turn-tokens", &w.turn_tokens},
        {"max-tokens", &w.max_tokens},
        {"requests", &w.requests}}) {
    auto value = args.GetInt(flag, *field);
    if (!value.ok()) return value.status();
    if (*value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " must be >= 1"));
    }
    *field = *value;
  }
  for (int prefixes : *counts) {
    w.prefixes = prefixes;
    const auto prompts = PrefixWorkloadPrompts(w, weights.config.bos_id,
                                               weights.config.vocab_size);
    for (bool caching : {false, true}) {
      auto backend = runtime::CreateCpuBackend(weights, b);
      if (!backend.ok()) return backend.status();
      server::EngineOptions options;
      options.enable_prefix_caching = caching;
      auto engine =
          server::Engine::Create(std::move(*backend), tokenizer, options);
      if (!engine.ok()) return engine.status();
      auto run = RunPrefixWorkload(**engine, w, prompts);
      if (!run.ok()) return run.status();
      const server::EngineStats st = (*engine)->stats();
      std::cout << absl::StrFormat(
          "%-28s %7s %8d %8d %8.3f %10.2f %10.2f %10.1f %11d\n", name,
          caching ? "on" : "off", prefixes, st.total_blocks * st.block_size,
          run->hit_rate, run->ttft_p50_ms, run->ttft_p99_ms, run->tokens_per_s,
          run->preemptions);
      std::cerr << absl::StrFormat(
          "{\"variant\": \"%s\", \"caching\": %s, \"prefixes\": %d, "
          "\"pool_tokens\": %d, \"hit_rate\": %.4f, \"ttft_p50_ms\": %.3f, "
          "\"ttft_p99_ms\": %.3f, \"tokens_per_s\": %.2f, "
          "\"preemptions\": %d, \"seconds\": %.3f}\n",
          name, caching ? "true" : "false", prefixes,
          st.total_blocks * st.block_size, run->hit_rate, run->ttft_p50_ms,
          run->ttft_p99_ms, run->tokens_per_s, run->preemptions, run->seconds);
    }
  }
  return absl::OkStatus();
}

absl::Status Run(int argc, char** argv) {
  auto args = tools::CliArgs::Parse(argc, argv, 1,
                                    {{"model"},
                                     {"tokenizer"},
                                     {tools::kWeightsDtypeFlag},
                                     {"projections"},
                                     {"kv-cache-bytes"},
                                     {"concurrency"},
                                     {"prompt-tokens"},
                                     {"max-tokens"},
                                     {"threads"},
                                     {"prefixes"},
                                     {"prefix-tokens"},
                                     {"turn-tokens"},
                                     {"requests"}});
  if (!args.ok()) return args.status();
  auto model = args->Require("model");
  if (!model.ok()) return model.status();
  auto budget = args->GetInt("kv-cache-bytes", 4 << 20);
  auto prompt_tokens = args->GetInt("prompt-tokens", 64);
  auto max_tokens = args->GetInt("max-tokens", 64);
  auto threads = args->GetInt("threads", 1);
  for (const absl::Status& s : {budget.status(), prompt_tokens.status(),
                                max_tokens.status(), threads.status()}) {
    if (!s.ok()) return s;
  }
  auto levels = PositiveList(*args, "concurrency", "1,2,4,8,16,32,64");
  if (!levels.ok()) return levels.status();
  std::vector<Variant> variants = {{"original", ""}};
  if (args->Has("projections")) {
    for (absl::string_view p :
         absl::StrSplit(args->Get("projections"), ',', absl::SkipEmpty())) {
      variants.push_back({std::string(p), std::string(p)});
    }
  }
  if (args->Has("prefixes")) {
    std::cout << absl::StrFormat("%-28s %7s %8s %8s %8s %10s %10s %10s %11s\n",
                                 "variant", "caching", "prefixes", "pool_tok",
                                 "hit_rate", "ttft_p50", "ttft_p99", "tokens/s",
                                 "preemptions");
  } else {
    std::cout << absl::StrFormat(
        "%-28s %5s %8s %10s %11s %6s %26s %26s\n", "variant", "conc",
        "pool_tok", "tokens/s", "preemptions", "steps",
        "sched/fwd/sample ms/step", "gemm/attn/other ms/step");
  }
  for (const Variant& v : variants) {
    auto load = tools::LoadOptionsFromArgs(*args);
    if (!load.ok()) return load.status();
    auto bundle = tools::LoadCompressedModelBundle(
        *model, args->Get("tokenizer"), v.projections, *load);
    if (!bundle.ok()) return bundle.status();
    std::shared_ptr<const runtime::Tokenizer> tokenizer(
        std::move(bundle->tokenizer));
    const runtime::ModelConfig config = bundle->weights.config;
    runtime::BackendOptions b;
    b.num_threads = *threads;
    b.num_blocks = server::BlockPool::BlocksForBudget(
        *budget, runtime::KvCache::BytesPerBlock(config, b.block_size));
    if (b.num_blocks <= 0) {
      return absl::InvalidArgumentError("--kv-cache-bytes holds no page");
    }
    if (args->Has("prefixes")) {
      if (auto s = PrefixSweep(*args, v.name, bundle->weights, tokenizer, b,
                               (*levels)[0]);
          !s.ok()) {
        return s;
      }
      continue;
    }
    for (int conc : *levels) {
      auto backend = runtime::CreateCpuBackend(bundle->weights, b);
      if (!backend.ok()) return backend.status();
      runtime::Backend* raw = backend->get();
      auto engine = server::Engine::Create(std::move(*backend), tokenizer, {});
      if (!engine.ok()) return engine.status();
      // Distinct prompts: token ids cycling through the vocabulary.
      for (int i = 0; i < conc; ++i) {
        server::GenerateRequest r;
        r.prompt_ids.push_back(config.bos_id);
        for (int t = 1; t < *prompt_tokens; ++t) {
          r.prompt_ids.push_back(3 +
                                 (i * 131 + t * 7) % (config.vocab_size - 3));
        }
        r.max_tokens = *max_tokens;
        r.ignore_eos = true;
        r.sampling.temperature = 0.0f;
        auto id = (*engine)->Submit(r, nullptr);
        if (!id.ok()) return id.status();
      }
      const auto t0 = std::chrono::steady_clock::now();
      while ((*engine)->HasWork()) {
        if (auto s = (*engine)->Step(); !s.ok()) return s;
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count();
      const server::EngineStats st = (*engine)->stats();
      const runtime::ForwardProfile fp = raw->profile();
      const double per_step = 1e3 / std::max<int64_t>(1, st.steps);
      const double tps = st.generated_tokens / seconds;
      std::cout << absl::StrFormat(
          "%-28s %5d %8d %10.1f %11d %6d %8.3f/%7.3f/%7.3f %8.3f/%7.3f/%7.3f\n",
          v.name, conc, st.total_blocks * st.block_size, tps, st.preemptions,
          st.steps, st.schedule_seconds * per_step,
          st.forward_seconds * per_step, st.sample_seconds * per_step,
          fp.gemm_seconds * per_step, fp.attention_seconds * per_step,
          fp.other_seconds * per_step);
      std::cerr << absl::StrFormat(
          "{\"variant\": \"%s\", \"concurrency\": %d, \"pool_tokens\": %d, "
          "\"kv_bytes_per_token\": %d, \"tokens_per_s\": %.2f, "
          "\"preemptions\": %d, \"steps\": %d, \"seconds\": %.3f}\n",
          v.name, conc, st.total_blocks * st.block_size,
          config.KvValuesPerToken() * 4, tps, st.preemptions, st.steps,
          seconds);
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace headroom::bench

int main(int argc, char** argv) {
  return headroom::tools::RunToolMain("headroom-bench-engine", argc, argv,
                                      headroom::bench::Run);
}
