// headroom-eval: model quality measurements.
//
//   headroom-eval ppl --model PATH [--tokenizer PATH] --text FILE
//       [--lines A:B] [--projections FILE] [--threads N]
//       [--weights-dtype auto|f32|f16|bf16|q8_0]
//
// Teacher-forced perplexity, each non-empty line of FILE its own sequence
// (BOS + tokens, truncated to the context); A and B count non-empty lines
// from 1, inclusive. --projections applies a projections file (from
// headroom-compress) on load, as the server does. The last line of output is
// one JSON object:
//   {"lines": N, "predicted_tokens": N, "nll_per_token": X, "perplexity": X,
//    "weights": "bf16"}   (the matrices' dtypes, ModelWeights::DtypeSummary)
#include <chrono>
#include <iostream>

#include "absl/strings/str_format.h"
#include "compress/perplexity.h"
#include "compress/text_corpus.h"
#include "runtime/cpu/cpu_backend.h"
#include "tools/cli_args.h"
#include "tools/model_bundle.h"

namespace headroom::tools {
namespace {

absl::Status RunPerplexity(int argc, char** argv) {
  auto args = CliArgs::Parse(argc, argv, 2,
                             {{"model"},
                              {"tokenizer"},
                              {kWeightsDtypeFlag},
                              {"text"},
                              {"lines"},
                              {"projections"},
                              {"threads"}});
  if (!args.ok()) return args.status();
  auto model = args->Require("model");
  if (!model.ok()) return model.status();
  auto text = args->Require("text");
  if (!text.ok()) return text.status();
  bool has_range = false;
  auto range = args->GetRange("lines", &has_range);
  if (!range.ok()) return range.status();
  auto threads = args->GetInt("threads", 1);
  if (!threads.ok()) return threads.status();

  auto lines = has_range ? compress::ReadNonEmptyLines(*text, range->first,
                                                       range->second)
                         : compress::ReadNonEmptyLines(*text);
  if (!lines.ok()) return lines.status();
  auto load = LoadOptionsFromArgs(*args);
  if (!load.ok()) return load.status();
  auto bundle = LoadCompressedModelBundle(*model, args->Get("tokenizer"),
                                          args->Get("projections"), *load);
  if (!bundle.ok()) return bundle.status();
  const std::string weights = bundle->weights.DtypeSummary();
  runtime::BackendOptions options;
  options.num_threads = *threads;
  auto backend = runtime::CreateCpuBackend(std::move(bundle->weights), options);
  if (!backend.ok()) return backend.status();

  const auto start = std::chrono::steady_clock::now();
  auto result =
      compress::EvaluatePerplexity(**backend, *bundle->tokenizer, *lines);
  if (!result.ok()) return result.status();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::cerr << absl::StrFormat(
      "[headroom-eval] %s: %d lines, %d tokens in %.2f s (%.0f tokens/s)\n",
      *text, result->sequences, result->predicted_tokens, seconds,
      seconds > 0 ? result->predicted_tokens / seconds : 0.0);
  std::cout << absl::StrFormat(
      "{\"lines\": %d, \"predicted_tokens\": %d, \"nll_per_token\": %.6f, "
      "\"perplexity\": %.6f, \"weights\": \"%s\"}\n",
      result->sequences, result->predicted_tokens, result->nll_per_token(),
      result->perplexity(), weights);
  return absl::OkStatus();
}

}  // namespace
}  // namespace headroom::tools

int main(int argc, char** argv) {
  const std::string usage =
      "usage: headroom-eval ppl --model PATH [--tokenizer PATH] --text FILE "
      "[--lines A:B] [--projections FILE] [--threads N] "
      "[--weights-dtype auto|f32|f16|bf16|q8_0]";
  if (argc < 2 || std::string(argv[1]) != "ppl") {
    std::cerr << usage << "\n";
    return 2;
  }
  absl::Status s = headroom::tools::RunPerplexity(argc, argv);
  if (!s.ok()) {
    std::cerr << "headroom-eval: " << s.message() << "\n";
    return 1;
  }
  return 0;
}
