// headroom-compress: MHA -> GQA compression of a model's KV heads from
// calibration text (method.md), written as a projections file.
//
//   headroom-compress --model PATH [--tokenizer PATH] --calib-text FILE
//       [--calib-lines A:B] [--calib-tokens N] [--holdback-tokens N]
//       (--kv-heads G | --kv-budget F) [--regroup] [--refit-ridge R]
//       [--refit-tokens N] [--refit-inputs original|propagated]
//       --method NAME --out FILE [--export DIR] [--threads N]
//       [--weights-dtype auto|f32|f16|bf16|q8_0]
//   headroom-compress --list-methods
//
// --calib-lines counts non-empty lines from 1, inclusive; lines from the end
// of them worth --holdback-tokens tokens (default 16384, at most half the
// lines) are held back from the statistics and used only to choose between
// candidates (auto, --kv-budget) and to report each layer's
// attention-output error. --kv-budget F: a fraction of the original KV
// bytes, KV heads chosen per layer. --regroup: choose which KV heads share
// a group. The decision and its evidence are in the JSON ("decision").
// --refit-ridge (default 1e-4, relative to the mean diagonal) and
// --refit-tokens (default 65536: calibration tokens the W_O refit fits on)
// tune the +refit methods; --refit-inputs propagated fits each layer's W_O
// on the inputs the compressed earlier layers give it (METHOD+refit only).
// --export writes the compressed model as an ordinary Hugging Face GQA
// checkpoint (methods without a runtime projection only). Prints one JSON
// object: the file's metadata plus timings.
//
// Several methods from one calibration: --method a,b,c with "{method}" in
// --out (one file and one JSON line per method; no --export).
#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "compress/apply.h"
#include "compress/calibration.h"
#include "compress/compress_settings.h"
#include "compress/compressor.h"
#include "compress/methods.h"
#include "compress/perplexity.h"
#include "compress/projections_file.h"
#include "compress/text_corpus.h"
#include "nlohmann/json.hpp"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/weights/hf_checkpoint.h"
#include "tools/cli_args.h"
#include "tools/model_bundle.h"

namespace headroom::tools {
namespace {

// One method's projections: save, print the summary, export.
absl::Status WriteOne(const ModelBundle& bundle,
                      const compress::CalibrationStats& stats,
                      const std::vector<std::string>& lines,
                      const compress::Projections* projections,
                      const std::string& out, double calibration_seconds,
                      double transform_seconds, const std::string& export_dir) {
  const runtime::ModelConfig& config = bundle.weights.config;
  if (auto s = compress::SaveProjections(*projections, out); !s.ok()) return s;

  nlohmann::json summary =
      nlohmann::json::parse(compress::ProjectionsSummaryJson(*projections));
  summary["out"] = out;
  summary["calibration_sequences"] = stats.sequences;
  summary["heldback_sequences"] = lines.size() - stats.heldback_begin;
  summary["heldback_tokens"] = stats.heldback_tokens;
  // Calibration and the transformations interleave layer by layer; the
  // calibration's time is shared by every method of the run.
  summary["calibration_seconds"] = calibration_seconds;
  summary["transform_seconds"] = transform_seconds;
  summary["kv_bytes_per_token_original"] =
      config.OriginalKvValuesPerToken() * static_cast<int64_t>(sizeof(float));
  runtime::ModelConfig served = config;
  served.cache_kv_heads = projections->KvHeadsPerLayer();
  summary["kv_bytes_per_token_served"] =
      served.KvValuesPerToken() * static_cast<int64_t>(sizeof(float));

  if (!export_dir.empty()) {
    const std::string& dir = export_dir;
    runtime::ModelWeights weights = bundle.weights;
    if (auto s = compress::ApplyProjections(*projections, &weights); !s.ok())
      return s;
    if (auto s = runtime::WriteHfCheckpoint(weights, dir); !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("--export ", dir, ": ", s.message()));
    }
    auto tok = CopyTokenizerFile(bundle.tokenizer_path, dir);
    if (!tok.ok()) return tok.status();
    summary["export"] = dir;
  }
  if (summary.contains("decision") && summary["decision"].contains("warning")) {
    std::cerr << "headroom-compress: warning: "
              << summary["decision"]["warning"].get<std::string>() << "\n";
  }
  std::cout << summary.dump() << std::endl;
  return absl::OkStatus();
}

absl::Status SettingError(const compress::SettingProblem& bad) {
  const std::string flag = bad.field == "calibration_tokens"
                               ? "--calib-tokens"
                               : compress::FlagName(bad.field);
  return absl::InvalidArgumentError(absl::StrCat(flag, " ", bad.message));
}

// The flags' settings (the struct's defaults where a flag is absent),
// checked as far as they can be without the model.
absl::StatusOr<compress::CompressSettings> SettingsFromArgs(
    const CliArgs& args) {
  compress::CompressSettings s;
  auto kv_heads = args.GetInt("kv-heads", s.kv_heads);
  if (!kv_heads.ok()) return kv_heads.status();
  s.kv_heads = *kv_heads;
  auto kv_budget = args.GetDouble("kv-budget", s.kv_budget);
  if (!kv_budget.ok()) return kv_budget.status();
  if (args.Has("kv-budget") && *kv_budget == 0.0) {
    return absl::InvalidArgumentError("--kv-budget 0 must be > 0");
  }
  s.kv_budget = *kv_budget;
  s.regroup = args.Has("regroup");
  auto calib_tokens = args.GetInt("calib-tokens", 0);
  if (!calib_tokens.ok()) return calib_tokens.status();
  s.calibration_tokens = *calib_tokens;
  auto holdback =
      args.GetInt("holdback-tokens", static_cast<int>(s.holdback_tokens));
  if (!holdback.ok()) return holdback.status();
  s.holdback_tokens = *holdback;
  auto refit_tokens =
      args.GetInt("refit-tokens", static_cast<int>(s.refit_tokens));
  if (!refit_tokens.ok()) return refit_tokens.status();
  s.refit_tokens = *refit_tokens;
  auto ridge = args.GetDouble("refit-ridge", s.refit_ridge);
  if (!ridge.ok()) return ridge.status();
  s.refit_ridge = *ridge;
  s.refit_inputs = args.Get("refit-inputs", s.refit_inputs);
  if (auto bad = compress::CheckSettings(s)) return SettingError(*bad);
  return s;
}

absl::Status Run(int argc, char** argv) {
  auto args = CliArgs::Parse(argc, argv, 1,
                             {{"model"},
                              {"tokenizer"},
                              {kWeightsDtypeFlag},
                              {"calib-text"},
                              {"calib-lines"},
                              {"calib-tokens"},
                              {"kv-heads"},
                              {"kv-budget"},
                              {"regroup", false},
                              {"holdback-tokens"},
                              {"refit-ridge"},
                              {"refit-tokens"},
                              {"refit-inputs"},
                              {"method"},
                              {"out"},
                              {"export"},
                              {"threads"},
                              {"list-methods", false}});
  if (!args.ok()) return args.status();
  if (args->Has("list-methods")) {
    std::cout << compress::DescribeMethods();
    return absl::OkStatus();
  }
  auto model = args->Require("model");
  if (!model.ok()) return model.status();
  auto calib_text = args->Require("calib-text");
  if (!calib_text.ok()) return calib_text.status();
  auto out = args->Require("out");
  if (!out.ok()) return out.status();
  auto method_name = args->Require("method");
  if (!method_name.ok()) return method_name.status();
  const std::vector<std::string> methods = absl::StrSplit(*method_name, ',');
  for (const std::string& m : methods) {
    if (auto spec = compress::ParseMethod(m); !spec.ok()) return spec.status();
  }
  if (methods.size() > 1) {
    if (out->find("{method}") == std::string::npos) {
      return absl::InvalidArgumentError(
          "--out needs a {method} placeholder when --method lists several");
    }
    if (args->Has("export")) {
      return absl::InvalidArgumentError("--export takes a single --method");
    }
  }
  if (args->Has("kv-heads") == args->Has("kv-budget")) {
    return absl::InvalidArgumentError(
        "give one of --kv-heads G or --kv-budget F");
  }
  auto settings = SettingsFromArgs(*args);
  if (!settings.ok()) return settings.status();
  auto threads = args->GetInt("threads", 1);
  if (!threads.ok()) return threads.status();
  bool has_range = false;
  auto range = args->GetRange("calib-lines", &has_range);
  if (!range.ok()) return range.status();

  auto lines = has_range ? compress::ReadNonEmptyLines(
                               *calib_text, range->first, range->second)
                         : compress::ReadNonEmptyLines(*calib_text);
  if (!lines.ok()) return lines.status();
  auto load = LoadOptionsFromArgs(*args);
  if (!load.ok()) return load.status();
  auto bundle = LoadModelBundle(*model, args->Get("tokenizer"), *load);
  if (!bundle.ok()) return bundle.status();
  const runtime::ModelConfig& config = bundle->weights.config;
  if (auto bad = compress::CheckSettings(*settings, config.n_kv_heads)) {
    return SettingError(*bad);
  }

  runtime::BackendOptions options;
  options.num_threads = *threads;
  std::vector<compress::CompressOptions> per_method(methods.size());
  for (size_t k = 0; k < methods.size(); ++k) {
    per_method[k].method = methods[k];
  }
  // Each method's options once the calibration's plan (its held-back lines
  // and fit sample) is known.
  auto prepare = [&](const compress::CalibrationStats& plan,
                     compress::CompressOptions& o) {
    o = compress::CompressOptionsFor(*settings, o.method, bundle->weights,
                                     *bundle->tokenizer, *lines, plan, options);
    return absl::OkStatus();
  };
  compress::CalibrationStats stats;
  compress::CompressionTimes times;
  auto projections = compress::CalibrateAndCompress(
      bundle->weights, *bundle->tokenizer, *lines,
      compress::CalibrationOptionsFor(*settings), *threads,
      std::move(per_method), prepare, &stats, &times);
  if (!projections.ok()) return projections.status();
  for (size_t k = 0; k < methods.size(); ++k) {
    std::string path = *out;
    if (auto at = path.find("{method}"); at != std::string::npos) {
      path.replace(at, 8, methods[k]);
    }
    if (auto s = WriteOne(*bundle, stats, *lines, &(*projections)[k], path,
                          times.calibration_seconds, times.transform_seconds[k],
                          args->Get("export"));
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace headroom::tools

int main(int argc, char** argv) {
  return headroom::tools::RunToolMain("headroom-compress", argc, argv,
                                      headroom::tools::Run);
}
