#include "compress/compress_settings.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compress/heldback.h"

namespace headroom::compress {
namespace {

SettingProblem Problem(std::string field, std::string message) {
  return SettingProblem{std::move(field), std::move(message)};
}

// kv_heads / kv_budget against the model's head count n; one of them must
// be given.
std::optional<SettingProblem> CheckKvShape(const CompressSettings& s, int n) {
  if (s.kv_budget != 0.0) {
    if (!(s.kv_budget > 0.0 && s.kv_budget <= 1.0) ||
        s.kv_budget * n < 1.0 - 1e-9) {
      return Problem("kv_budget",
                     absl::StrCat(s.kv_budget, " must be in [1/", n,
                                  ", 1] (a fraction of the original KV "
                                  "bytes; every layer keeps at least one of "
                                  "its ",
                                  n, " KV heads)"));
    }
  } else if (s.kv_heads <= 0 || n % s.kv_heads != 0) {
    return Problem("kv_heads", absl::StrCat(s.kv_heads,
                                            " must divide the "
                                            "model's ",
                                            n, " KV heads"));
  }
  return std::nullopt;
}

}  // namespace

std::optional<SettingProblem> CheckSettings(const CompressSettings& s,
                                            int n_kv_heads) {
  if (s.kv_heads < 0) {
    return Problem("kv_heads", absl::StrCat(s.kv_heads, " must be >= 1"));
  }
  if (n_kv_heads <= 0 && s.kv_budget != 0.0 &&
      !(s.kv_budget > 0.0 && s.kv_budget <= 1.0)) {
    return Problem("kv_budget",
                   absl::StrCat(s.kv_budget,
                                " must be in (0, 1] (a fraction of the "
                                "original KV bytes)"));
  }
  if (s.kv_heads != 0 && s.kv_budget != 0.0) {
    return Problem("kv_budget",
                   absl::StrCat(s.kv_budget, " and kv_heads ", s.kv_heads,
                                " are both given: give one, "
                                "not both"));
  }
  if (s.calibration_tokens < 0) {
    return Problem("calibration_tokens",
                   absl::StrCat(s.calibration_tokens, " must be >= 0"));
  }
  if (s.holdback_tokens < 0) {
    return Problem("holdback_tokens",
                   absl::StrCat(s.holdback_tokens, " must be >= 0"));
  }
  if (s.refit_tokens <= 0) {
    return Problem("refit_tokens",
                   absl::StrCat(s.refit_tokens, " must be > 0"));
  }
  if (!(s.refit_ridge >= 0.0)) {
    return Problem("refit_ridge", absl::StrCat(s.refit_ridge, " must be >= 0"));
  }
  if (s.refit_inputs != "original" && s.refit_inputs != "propagated") {
    return Problem("refit_inputs", absl::StrCat("'", s.refit_inputs,
                                                "' must be original or "
                                                "propagated"));
  }
  if (n_kv_heads > 0) return CheckKvShape(s, n_kv_heads);
  return std::nullopt;
}

CalibrationOptions CalibrationOptionsFor(const CompressSettings& s) {
  CalibrationOptions o;
  o.max_tokens = s.calibration_tokens;
  o.holdback_tokens = s.holdback_tokens;
  o.max_fit_sample_tokens = s.refit_tokens;
  return o;
}

CompressOptions CompressOptionsFor(const CompressSettings& s,
                                   const std::string& method,
                                   const runtime::ModelWeights& weights,
                                   const runtime::Tokenizer& tokenizer,
                                   const std::vector<std::string>& lines,
                                   const CalibrationStats& stats,
                                   const runtime::BackendOptions& backend) {
  CompressOptions o;
  o.method = method;
  o.kv_heads = s.kv_heads;
  o.kv_budget = s.kv_budget;
  o.regroup = s.regroup;
  o.refit_ridge = s.refit_ridge;
  const auto begin = lines.begin();
  const std::vector<std::string> heldback(
      begin + static_cast<std::ptrdiff_t>(stats.heldback_begin), lines.end());
  if (!heldback.empty()) {
    o.score = MakeHeldbackScorer(weights, tokenizer, heldback, backend);
  }
  if (s.refit_inputs == "propagated") {
    o.refit_inputs = RefitInputs::kPropagated;
    const std::vector<int>& fit = stats.fit_sample.lengths;
    o.record_inputs = MakeInputRecorder(
        weights, tokenizer,
        std::vector<std::string>(
            begin, begin + static_cast<std::ptrdiff_t>(fit.size())),
        fit, backend);
  }
  return o;
}

std::string FlagName(const std::string& field) {
  std::string flag = "--" + field;
  for (char& ch : flag) {
    if (ch == '_') ch = '-';
  }
  return flag;
}

std::string SettingsKey(const CompressSettings& s) {
  return absl::StrFormat(
      "kv_heads %d\nkv_budget %.17g\nregroup %d\ncalibration_tokens %d\n"
      "holdback_tokens %d\nrefit_tokens %d\nrefit_ridge %.17g\n"
      "refit_inputs %s\n",
      s.kv_heads, s.kv_budget, s.regroup ? 1 : 0, s.calibration_tokens,
      s.holdback_tokens, s.refit_tokens, s.refit_ridge, s.refit_inputs);
}

}  // namespace headroom::compress
