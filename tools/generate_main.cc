// headroom-generate: prompt in, text out, one sequence.
//
//   headroom-generate --model PATH [--tokenizer PATH] [--prompt TEXT]
//       [--max-tokens N] [--temperature T] [--seed S] [--threads N]
//       [--weights-dtype auto|f32|f16|bf16|q8_0]
//       [--device cpu|cuda] [--dtype float16|bfloat16]
//
// Greedy (argmax) when --temperature is 0 (the default); otherwise samples
// from softmax(logits / T) with a seeded generator. Stops at EOS, at BOS
// (llama2.c's story delimiter) or after --max-tokens. Text goes to stdout as
// it is produced; speed to stderr.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>

#include "absl/strings/str_format.h"
#include "runtime/backend_factory.h"
#include "runtime/sequence_runner.h"
#include "tools/cli_args.h"
#include "tools/model_bundle.h"

namespace headroom::tools {
namespace {

int SampleWithTemperature(const std::vector<float>& logits, double temperature,
                          std::mt19937_64& rng) {
  const float max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    p[i] = std::exp((logits[i] - max) / temperature);
    sum += p[i];
  }
  double r = std::uniform_real_distribution<double>(0.0, sum)(rng);
  for (size_t i = 0; i < p.size(); ++i) {
    r -= p[i];
    if (r <= 0.0) return static_cast<int>(i);
  }
  return static_cast<int>(p.size()) - 1;
}

absl::Status Run(int argc, char** argv) {
  auto args = CliArgs::Parse(argc, argv, 1,
                             {{"model"},
                              {"tokenizer"},
                              {kWeightsDtypeFlag},
                              {"prompt"},
                              {"max-tokens"},
                              {"temperature"},
                              {"seed"},
                              {"threads"},
                              {"device"},
                              {"dtype"}});
  if (!args.ok()) return args.status();
  auto model = args->Require("model");
  if (!model.ok()) return model.status();
  auto max_tokens = args->GetInt("max-tokens", 256);
  auto temperature = args->GetDouble("temperature", 0.0);
  auto seed = args->GetInt("seed", 0);
  auto threads = args->GetInt("threads", 1);
  for (const absl::Status& s : {max_tokens.status(), temperature.status(),
                                seed.status(), threads.status()}) {
    if (!s.ok()) return s;
  }
  if (*max_tokens <= 0) {
    return absl::InvalidArgumentError("--max-tokens must be positive");
  }
  if (*temperature < 0.0) {
    return absl::InvalidArgumentError("--temperature must be >= 0");
  }
  auto device = runtime::ParseDevice(args->Get("device", "cpu"));
  if (!device.ok()) return device.status();
  auto dtype = runtime::ParseLowPrecision(args->Get("dtype", "float16"));
  if (!dtype.ok()) return dtype.status();
  if (auto s = runtime::CheckDeviceAvailable(*device); !s.ok()) return s;
  auto load = LoadOptionsFromArgs(*args);
  if (!load.ok()) return load.status();
  auto bundle = LoadModelBundle(*model, args->Get("tokenizer"), *load);
  if (!bundle.ok()) return bundle.status();
  const runtime::Tokenizer& tok = *bundle->tokenizer;
  const runtime::ModelConfig config = bundle->weights.config;
  runtime::BackendOptions options;
  options.num_threads = *threads;
  options.dtype = *dtype;
  auto backend =
      runtime::CreateBackend(*device, std::move(bundle->weights), options);
  if (!backend.ok()) return backend.status();

  std::vector<int> ids = tok.Encode(args->Get("prompt"), /*add_bos=*/true);
  if (static_cast<int>(ids.size()) >= config.max_seq_len) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--prompt has %d tokens; the context is %d", ids.size(),
                        config.max_seq_len));
  }
  std::mt19937_64 rng(static_cast<uint64_t>(*seed));
  runtime::SequenceRunner runner(backend->get());
  std::vector<float> logits;
  const auto start = std::chrono::steady_clock::now();
  if (auto s = runner.Append(ids, false, &logits); !s.ok()) return s;
  const auto after_prefill = std::chrono::steady_clock::now();
  std::cout << args->Get("prompt") << std::flush;
  int prev = ids.back(), generated = 0;
  while (generated < *max_tokens && runner.length() < config.max_seq_len) {
    const int next = *temperature == 0.0
                         ? runtime::Argmax(logits)
                         : SampleWithTemperature(logits, *temperature, rng);
    if (next == tok.eos_id() || next == tok.bos_id()) break;
    std::cout << tok.DecodeToken(prev, next) << std::flush;
    ++generated;
    prev = next;
    if (runner.length() + 1 > config.max_seq_len) break;
    if (auto s = runner.Append({&next, 1}, false, &logits); !s.ok()) return s;
  }
  const auto end = std::chrono::steady_clock::now();
  std::cout << "\n";
  const double prefill_s =
      std::chrono::duration<double>(after_prefill - start).count();
  const double decode_s =
      std::chrono::duration<double>(end - after_prefill).count();
  std::cerr << absl::StrFormat(
      "[headroom-generate] prompt %d tokens in %.3f s, generated %d tokens in "
      "%.3f s (%.1f tokens/s)\n",
      ids.size(), prefill_s, generated, decode_s,
      decode_s > 0 ? generated / decode_s : 0.0);
  return absl::OkStatus();
}

}  // namespace
}  // namespace headroom::tools

int main(int argc, char** argv) {
  return headroom::tools::RunToolMain("headroom-generate", argc, argv,
                                      headroom::tools::Run);
}
