// CompressSettings: the choices behind one compression (KV heads or a KV
// budget, regrouping, the held-back and refit sample sizes), as
// headroom-compress's flags and the server's `compression:` section give
// them. Both check them and turn them into CalibrationOptions and
// CompressOptions here, so that a server computing projections on load does
// exactly what the tool does with the same settings.
//
//   if (auto bad = CheckSettings(s, n_kv_heads)) -> "<name>: <bad->message>"
//   CalibrateAndCompress(weights, tokenizer, lines, CalibrationOptionsFor(s),
//       threads, {method}, /*prepare=*/o = CompressOptionsFor(s, method,
//       ..., plan, ...), ...);
#ifndef HEADROOM_COMPRESS_COMPRESS_SETTINGS_H_
#define HEADROOM_COMPRESS_COMPRESS_SETTINGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compress/calibration.h"
#include "compress/compressor.h"
#include "runtime/backend.h"
#include "runtime/model/model_weights.h"
#include "runtime/tokenizers/tokenizer.h"

namespace headroom::compress {

// Field names (SettingProblem::field) are the server's YAML keys; the tool's
// flags are the same with '-' for '_' (kv_budget: --kv-budget).
struct CompressSettings {
  int kv_heads = 0;        // g for every layer; 0 = not given
  double kv_budget = 0.0;  // fraction of the original KV bytes; 0 = not given
  bool regroup = false;    // choose which KV heads share a group
  int64_t calibration_tokens = 0;  // 0 = all the calibration text
  // The defaults are the library's (one place): lines worth 16384 tokens
  // held back for decisions, a 65536-token W_O refit sample, ridge 1e-4
  // relative to the mean diagonal.
  int64_t holdback_tokens = CalibrationOptions{}.holdback_tokens;
  int64_t refit_tokens = CalibrationOptions{}.max_fit_sample_tokens;
  double refit_ridge = CompressOptions{}.refit_ridge;
  std::string refit_inputs = "original";  // original | propagated
};

struct SettingProblem {
  std::string field;    // e.g. "kv_budget"
  std::string message;  // starts with the value: "0 must be > 0"
};

// The first setting out of range, or nullopt. `n_kv_heads` (the model's;
// 0 = not known yet) adds the checks that need it: kv_heads divides it,
// kv_budget keeps at least one head per layer, and one of them is given
// (without it, giving neither is not a problem: a projections file may
// say them).
std::optional<SettingProblem> CheckSettings(const CompressSettings& s,
                                            int n_kv_heads = 0);

CalibrationOptions CalibrationOptionsFor(const CompressSettings& s);

// `method` with the settings; the held-back scorer when `stats` held lines
// back (auto's and kv_budget's decisions), and for refit_inputs propagated
// the recorder of the compressed model's attention inputs. `lines` are the
// texts `stats` was calibrated on; `weights` and `tokenizer` must outlive
// the options.
CompressOptions CompressOptionsFor(const CompressSettings& s,
                                   const std::string& method,
                                   const runtime::ModelWeights& weights,
                                   const runtime::Tokenizer& tokenizer,
                                   const std::vector<std::string>& lines,
                                   const CalibrationStats& stats,
                                   const runtime::BackendOptions& backend);

// The tool's flag for a field: "--kv-budget" for "kv_budget".
std::string FlagName(const std::string& field);

// Every setting, one "field value" line each (exact values: a cache key
// that changes whenever the projections would).
std::string SettingsKey(const CompressSettings& s);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_COMPRESS_SETTINGS_H_
