// headroom-bench-cuda-decode: decode tokens/s of the CUDA backend on a
// synthetic LLaMA-shaped model (random weights drawn on the device), for the
// original MHA layout and compressed KV-head counts, at several batch sizes
// and context lengths, beside the memory-bandwidth bound.
//
//   headroom-bench-cuda-decode [--dim 2048 --layers 18 --heads 32
//       --hidden 5632 --vocab 32000] [--kv-heads 32,16,8]
//       [--batches 1,16,64,256 --context 512]
//       [--long-contexts 2048,8192 --long-batch 16] [--steps 20]
//       [--dtype float16] [--block-size 16]
//
// A decode step reads every weight once (lowp) plus the K and V of every
// sequence's context: bytes per step over the device-to-device copy traffic
// rate measured in the same run is the fastest possible step. The cache
// contents are whatever the pages hold (timing does not depend on values).
// Prints a table and one JSON line per run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/cuda_copy_bandwidth.h"
#include "runtime/backend_factory.h"
#include "runtime/cuda/cuda_backend.h"
#include "tools/cli_args.h"

namespace headroom::bench {
namespace {

absl::StatusOr<std::vector<int>> IntList(const tools::CliArgs& args,
                                         const std::string& name,
                                         const std::string& fallback) {
  std::vector<int> out;
  for (absl::string_view part :
       absl::StrSplit(args.Get(name, fallback), ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, ": expected positive integers, got \"",
                       std::string(part), "\""));
    }
    out.push_back(v);
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": empty"));
  }
  return out;
}

struct RunSpec {
  int batch;
  int context;
};

// Bytes of the lowp weights a decode step reads (the embedding table only
// as the classifier: the model is tied, one row per token is gathered).
int64_t WeightBytes(const runtime::ModelConfig& c) {
  const int64_t D = c.dim, d = c.head_dim, h = c.n_heads, F = c.hidden_dim;
  int64_t values = int64_t{c.vocab_size} * D;
  for (int l = 0; l < c.n_layers; ++l) {
    const int64_t g = c.CacheKvHeads(l);
    values += (h + 2 * g) * d * D + D * h * d + 3 * F * D;
  }
  return values * 2;
}

absl::Status Run(int argc, char** argv) {
  auto args = tools::CliArgs::Parse(argc, argv, 1,
                                    {{"dim"},
                                     {"layers"},
                                     {"heads"},
                                     {"hidden"},
                                     {"vocab"},
                                     {"kv-heads"},
                                     {"batches"},
                                     {"context"},
                                     {"long-contexts"},
                                     {"long-batch"},
                                     {"steps"},
                                     {"dtype"},
                                     {"block-size"}});
  if (!args.ok()) return args.status();
  runtime::ModelConfig base;
  struct IntFlag {
    const char* name;
    int fallback;
    int* out;
  };
  int context = 0, long_batch = 0, steps = 0, block_size = 0;
  for (IntFlag f :
       {IntFlag{"dim", 2048, &base.dim}, IntFlag{"layers", 18, &base.n_layers},
        IntFlag{"heads", 32, &base.n_heads},
        IntFlag{"hidden", 5632, &base.hidden_dim},
        IntFlag{"vocab", 32000, &base.vocab_size},
        IntFlag{"context", 512, &context},
        IntFlag{"long-batch", 16, &long_batch}, IntFlag{"steps", 20, &steps},
        IntFlag{"block-size", 16, &block_size}}) {
    auto v = args->GetInt(f.name, f.fallback);
    if (!v.ok()) return v.status();
    if (*v <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", f.name, ": must be positive, got ", *v));
    }
    *f.out = *v;
  }
  if (base.dim % base.n_heads != 0) {
    return absl::InvalidArgumentError("--heads must divide --dim");
  }
  base.head_dim = base.dim / base.n_heads;
  base.n_kv_heads = base.n_heads;
  auto kv_heads = IntList(
      *args, "kv-heads",
      absl::StrCat(base.n_heads, ",", base.n_heads / 2, ",", base.n_heads / 4));
  if (!kv_heads.ok()) return kv_heads.status();
  auto batches = IntList(*args, "batches", "1,16,64,256");
  if (!batches.ok()) return batches.status();
  auto long_contexts = IntList(*args, "long-contexts", "2048,8192");
  if (!long_contexts.ok()) return long_contexts.status();
  auto dtype = runtime::ParseLowPrecision(args->Get("dtype", "float16"));
  if (!dtype.ok()) return dtype.status();

  std::vector<RunSpec> runs;
  for (int b : *batches) runs.push_back({b, context});
  for (int ctx : *long_contexts) runs.push_back({long_batch, ctx});
  int max_context = 0;
  int64_t max_tokens = 0;
  for (const RunSpec& r : runs) {
    max_context = std::max(max_context, r.context + steps + 4);
    max_tokens = std::max<int64_t>(
        max_tokens, int64_t{r.batch} * (r.context + steps + 4 + block_size));
  }
  base.max_seq_len = max_context;

  for (int g : *kv_heads) {
    if (base.n_heads % g != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--kv-heads: ", g, " does not divide ", base.n_heads));
    }
  }
  if (runtime::CudaDeviceCount() == 0) {
    return absl::FailedPreconditionError("no CUDA device is present");
  }
  auto copy = MeasureDeviceCopy(int64_t{1} << 30, 5);
  if (!copy.ok()) return copy.status();
  const double bandwidth = copy->traffic_bytes_per_second();
  std::printf("device-to-device copy: %.0f GB/s (read + write, 1 GiB)\n",
              bandwidth / 1e9);
  std::printf(
      "model: dim %d, %d layers, %d heads of %d, hidden %d, vocab %d, %s\n",
      base.dim, base.n_layers, base.n_heads, base.head_dim, base.hidden_dim,
      base.vocab_size, runtime::LowPrecisionName(*dtype));
  std::printf("%8s %6s %7s %9s %10s %9s %9s %9s %7s\n", "kv_heads", "batch",
              "context", "step_ms", "tok/s", "weights_GB", "kv_GB", "bound_ms",
              "of_bound");

  for (int g : *kv_heads) {
    runtime::ModelConfig c = base;
    c.cache_kv_heads.assign(c.n_layers, g);
    runtime::BackendOptions options;
    options.dtype = *dtype;
    options.block_size = block_size;
    options.num_blocks = static_cast<int>(max_tokens / block_size + 1);
    auto backend =
        runtime::CreateCudaBackendWithRandomWeights(c, options, 1234);
    if (!backend.ok()) return backend.status();
    for (const RunSpec& r : runs) {
      // Sequence s owns pages [s * blocks_per_seq, (s + 1) * blocks_per_seq):
      // a decode step at position context + i for every sequence. Sized by
      // this run, so no two sequences share a page (shared pages would be
      // read from L2 and flatter the step time); max_tokens makes the pool
      // hold batch * blocks_per_seq pages.
      const int blocks_per_seq =
          (r.context + steps + 4 + block_size - 1) / block_size;
      runtime::Batch batch;
      for (int s = 0; s < r.batch; ++s) {
        std::vector<int> table(blocks_per_seq);
        for (int b = 0; b < blocks_per_seq; ++b) {
          table[b] = s * blocks_per_seq + b;
        }
        batch.block_tables.push_back(std::move(table));
      }
      std::vector<float> logits;
      auto step = [&](int i) {
        batch.token_ids.clear();
        batch.positions.clear();
        batch.seq_ids.clear();
        batch.want_logits.clear();
        for (int s = 0; s < r.batch; ++s) {
          const int id = (s * 31 + i * 7) % c.vocab_size;
          batch.AddTokens(s, &id, 1, r.context + i, true);
        }
        return (*backend)->Forward(batch, &logits);
      };
      for (int i = 0; i < 3; ++i) {
        if (auto s = step(i); !s.ok()) return s;
      }
      const auto start = std::chrono::steady_clock::now();
      for (int i = 3; i < 3 + steps; ++i) {
        if (auto s = step(i); !s.ok()) return s;
      }
      const double seconds = std::chrono::duration<double>(
                                 std::chrono::steady_clock::now() - start)
                                 .count() /
                             steps;
      const double weight_bytes = static_cast<double>(WeightBytes(c));
      const double kv_bytes = static_cast<double>(r.batch) *
                              (r.context + 3 + steps / 2.0) *
                              c.KvValuesPerToken() * 2;
      const double bound = (weight_bytes + kv_bytes) / bandwidth;
      std::printf("%8d %6d %7d %9.3f %10.0f %9.2f %9.2f %9.3f %6.0f%%\n", g,
                  r.batch, r.context, seconds * 1e3, r.batch / seconds,
                  weight_bytes / 1e9, kv_bytes / 1e9, bound * 1e3,
                  100.0 * bound / seconds);
      std::printf(
          "{\"kv_heads\": %d, \"batch\": %d, \"context\": %d, "
          "\"step_seconds\": %.6g, \"tokens_per_second\": %.6g, "
          "\"weight_bytes\": %.6g, \"kv_bytes\": %.6g, "
          "\"bound_seconds\": %.6g, \"copy_bytes_per_second\": %.6g}\n",
          g, r.batch, r.context, seconds, r.batch / seconds, weight_bytes,
          kv_bytes, bound, bandwidth);
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace headroom::bench

int main(int argc, char** argv) {
  return headroom::tools::RunToolMain("headroom-bench-cuda-decode", argc, argv,
                                      headroom::bench::Run);
}
