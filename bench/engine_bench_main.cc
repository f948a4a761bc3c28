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
#include <chrono>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
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
                                     {"threads"}});
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
  std::vector<int> levels;
  for (absl::string_view v :
       absl::StrSplit(args->Get("concurrency", "1,2,4,8,16,32,64"), ',')) {
    int n;
    if (!absl::SimpleAtoi(v, &n) || n <= 0) {
      return absl::InvalidArgumentError(
          "--concurrency expects positive integers separated by commas");
    }
    levels.push_back(n);
  }
  std::vector<Variant> variants = {{"original", ""}};
  if (args->Has("projections")) {
    for (absl::string_view p :
         absl::StrSplit(args->Get("projections"), ',', absl::SkipEmpty())) {
      variants.push_back({std::string(p), std::string(p)});
    }
  }
  std::cout << absl::StrFormat(
      "%-28s %5s %8s %10s %11s %6s %26s %26s\n", "variant", "conc", "pool_tok",
      "tokens/s", "preemptions", "steps", "sched/fwd/sample ms/step",
      "gemm/attn/other ms/step");
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
    for (int conc : levels) {
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
