// headroom-bench-forward: prefill and single-sequence decode speed of the CPU
// backend, beside the bound memory bandwidth sets on decode.
//
//   headroom-bench-forward --model PATH [--threads 1] [--prompt-tokens 128]
//       [--weights-dtype auto|f32|f16|bf16|q8_0]
//       [--decode-tokens 64] [--repeats 3] [--projections FILE]
//
// Decode bound: each decode step reads every weight once (fp32) plus the KV
// cache of the context so far; bytes per token over the read bandwidth
// measured in the same run, with as many threads as the backend runs, gives
// the fastest possible tokens/s. Prints one JSON line at the end.
#include <algorithm>
#include <chrono>
#include <iostream>

#include "absl/strings/str_format.h"
#include "bench/memory_bandwidth.h"
#include "compress/apply.h"
#include "compress/projections_file.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/cpu/matmul.h"
#include "runtime/sequence_runner.h"
#include "runtime/weights/model_loader.h"
#include "tools/cli_args.h"
#include "tools/model_bundle.h"

namespace headroom::bench {
namespace {

// Bytes a decode step reads: all matrices except the embedding table (one
// row is gathered) but including the classifier, plus the KV of `context`
// tokens.
int64_t DecodeBytesPerToken(const runtime::ModelWeights& w, int context) {
  int64_t bytes = w.weight_bytes();
  if (!w.config.tied_embeddings) bytes -= w.token_embedding.bytes();
  return bytes + int64_t{context} * w.config.KvValuesPerToken() *
                     static_cast<int64_t>(sizeof(float));
}

absl::Status Run(int argc, char** argv) {
  auto args = tools::CliArgs::Parse(argc, argv, 1,
                                    {{"model"},
                                     {tools::kWeightsDtypeFlag},
                                     {"threads"},
                                     {"prompt-tokens"},
                                     {"decode-tokens"},
                                     {"repeats"},
                                     {"projections"}});
  if (!args.ok()) return args.status();
  auto model = args->Require("model");
  if (!model.ok()) return model.status();
  auto threads = args->GetInt("threads", 1);
  auto prompt_tokens = args->GetInt("prompt-tokens", 128);
  auto decode_tokens = args->GetInt("decode-tokens", 64);
  auto repeats = args->GetInt("repeats", 3);
  for (const absl::Status& s : {threads.status(), prompt_tokens.status(),
                                decode_tokens.status(), repeats.status()}) {
    if (!s.ok()) return s;
  }
  auto load = tools::LoadOptionsFromArgs(*args);
  if (!load.ok()) return load.status();
  // The read bandwidth at the thread count of the steps, measured before the
  // model is loaded so that its buffer (larger than the caches, at most
  // 1 GiB) is freed by then and does not add to the peak memory.
  const ReadResult read = MeasureRead(int64_t{1} << 30, *threads, 5);
  const auto load_start = std::chrono::steady_clock::now();
  auto weights = runtime::LoadModel(*model, *load);
  if (!weights.ok()) return weights.status();
  if (const std::string path = args->Get("projections"); !path.empty()) {
    auto projections = compress::LoadProjections(path);
    if (!projections.ok()) return projections.status();
    if (auto s = compress::ApplyProjections(*projections, &*weights); !s.ok()) {
      return s;
    }
  }
  const runtime::ModelConfig config = weights->config;
  if (*prompt_tokens + *decode_tokens > config.max_seq_len) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--prompt-tokens + --decode-tokens (%d) exceed the context %d",
        *prompt_tokens + *decode_tokens, config.max_seq_len));
  }
  const int64_t weight_bytes = weights->weight_bytes();
  const int mid_context = *prompt_tokens + *decode_tokens / 2;
  const int64_t decode_bytes = DecodeBytesPerToken(*weights, mid_context);
  runtime::BackendOptions options;
  options.num_threads = *threads;
  // KV pages for this run's context only (not the model's full context,
  // which at 7B in f32 would be 4 GiB of the peak memory).
  options.num_blocks = static_cast<int>(
      (*prompt_tokens + *decode_tokens + options.block_size - 1) /
      options.block_size);
  const std::string dtypes = weights->DtypeSummary();
  auto backend = runtime::CreateCpuBackend(std::move(*weights), options);
  if (!backend.ok()) return backend.status();
  const double load_seconds = std::chrono::duration<double>(
                                  std::chrono::steady_clock::now() - load_start)
                                  .count();

  // Token ids cycle through the vocabulary (content does not change speed).
  std::vector<int> prompt(*prompt_tokens);
  for (int i = 0; i < *prompt_tokens; ++i)
    prompt[i] = 3 + i % (config.vocab_size - 3);
  runtime::SequenceRunner runner(backend->get());
  std::vector<float> logits;
  double best_prefill = 1e30, best_decode = 1e30;
  for (int r = 0; r < *repeats; ++r) {
    runner.Reset();
    const auto t0 = std::chrono::steady_clock::now();
    if (auto s = runner.Append(prompt, false, &logits); !s.ok()) return s;
    const auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < *decode_tokens; ++i) {
      const int next = runtime::Argmax(logits);
      if (auto s = runner.Append({&next, 1}, false, &logits); !s.ok()) return s;
    }
    const auto t2 = std::chrono::steady_clock::now();
    best_prefill =
        std::min(best_prefill, std::chrono::duration<double>(t1 - t0).count());
    best_decode =
        std::min(best_decode, std::chrono::duration<double>(t2 - t1).count());
  }
  const double bandwidth = read.bytes_per_second();
  const double prefill_tps = *prompt_tokens / best_prefill;
  const double decode_tps = *decode_tokens / best_decode;
  const double bound_tps = bandwidth / decode_bytes;
  std::cout << absl::StrFormat(
      "model %s: %d layers, dim %d, %d heads, %d KV heads, vocab %d, weights "
      "%s %.1f MB, loaded in %.2f s; KV cache %d values per token\n"
      "threads %d (matmul %s): prefill %d tokens %.1f tokens/s; decode %d "
      "tokens %.1f tokens/s\n"
      "read bandwidth (%d threads) %.2f GB/s; decode reads %.2f MB/token -> "
      "bound %.1f tokens/s; decode reaches %.0f%% of it\n",
      *model, config.n_layers, config.dim, config.n_heads, config.n_kv_heads,
      config.vocab_size, dtypes, weight_bytes / 1e6, load_seconds,
      config.KvValuesPerToken(), *threads, runtime::cpu::MatMulIsa(),
      *prompt_tokens, prefill_tps, *decode_tokens, decode_tps, *threads,
      bandwidth / 1e9, decode_bytes / 1e6, bound_tps,
      100.0 * decode_tps / bound_tps);
  std::cout << absl::StrFormat(
      "{\"threads\": %d, \"prefill_tokens_per_s\": %.2f, "
      "\"decode_tokens_per_s\": %.2f, \"read_gb_per_s\": %.3f, "
      "\"decode_bytes_per_token\": %d, \"decode_bound_tokens_per_s\": %.2f, "
      "\"decode_fraction_of_bound\": %.4f, \"weights\": \"%s\", "
      "\"load_seconds\": %.3f}\n",
      *threads, prefill_tps, decode_tps, bandwidth / 1e9, decode_bytes,
      bound_tps, decode_tps / bound_tps, dtypes, load_seconds);
  return absl::OkStatus();
}

}  // namespace
}  // namespace headroom::bench

int main(int argc, char** argv) {
  return headroom::tools::RunToolMain("headroom-bench-forward", argc, argv,
                                      headroom::bench::Run);
}
