#include "compress/heldback.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compress/apply.h"
#include "nlohmann/json.hpp"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/model/forward_observer.h"
#include "runtime/sequence_runner.h"

namespace headroom::compress {

HeldbackScorer MakeHeldbackScorer(const runtime::ModelWeights& original,
                                  const runtime::Tokenizer& tokenizer,
                                  std::vector<std::string> heldback,
                                  runtime::BackendOptions options) {
  return [&original, &tokenizer, lines = std::move(heldback),
          options](const Projections& p) -> absl::StatusOr<PerplexityResult> {
    runtime::ModelWeights candidate = original;
    if (auto s = ApplyProjections(p, &candidate); !s.ok()) return s;
    auto backend = runtime::CreateCpuBackend(std::move(candidate), options);
    if (!backend.ok()) return backend.status();
    return EvaluatePerplexity(**backend, tokenizer, lines,
                              /*keep_token_nll=*/true);
  };
}

namespace {

class InputObserver final : public runtime::ForwardObserver {
 public:
  InputObserver(int dim, ActivationSample* sample) : dim_(dim), s_(sample) {}
  void OnLayer(const runtime::LayerActivations& a) override {
    auto& in = s_->inputs[a.layer];
    in.insert(in.end(), a.attn_input,
              a.attn_input + int64_t{a.num_tokens} * dim_);
  }

 private:
  int dim_;
  ActivationSample* s_;
};

}  // namespace

InputRecorder MakeInputRecorder(const runtime::ModelWeights& original,
                                const runtime::Tokenizer& tokenizer,
                                std::vector<std::string> texts,
                                std::vector<int> lengths,
                                runtime::BackendOptions options) {
  return [&original, &tokenizer, texts = std::move(texts),
          lengths = std::move(lengths),
          options](const Projections& p) -> absl::StatusOr<ActivationSample> {
    runtime::ModelWeights candidate = original;
    if (auto s = ApplyProjections(p, &candidate); !s.ok()) return s;
    auto backend = runtime::CreateCpuBackend(std::move(candidate), options);
    if (!backend.ok()) return backend.status();
    ActivationSample sample;
    sample.inputs.resize(original.config.n_layers);
    InputObserver observer(original.config.dim, &sample);
    if (auto s = (*backend)->SetObserver(&observer); !s.ok()) return s;
    runtime::SequenceRunner runner(backend->get());
    std::vector<float> logits;
    for (size_t i = 0; i < lengths.size() && i < texts.size(); ++i) {
      std::vector<int> ids = tokenizer.Encode(texts[i], /*add_bos=*/true);
      if (static_cast<int>(ids.size()) < lengths[i]) {
        return absl::InternalError("input recorder: a line got shorter");
      }
      ids.resize(lengths[i]);
      runner.Reset();
      if (auto s = runner.Append(ids, false, &logits); !s.ok()) return s;
      sample.lengths.push_back(lengths[i]);
    }
    (void)(*backend)->SetObserver(nullptr);
    return sample;
  };
}

absl::StatusOr<PairedDifference> PairedNllDifference(
    const PerplexityResult& a, const PerplexityResult& b) {
  if (a.token_nll.size() != b.token_nll.size() ||
      a.sequence_tokens != b.sequence_tokens || a.token_nll.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "paired NLL difference: the candidates cover different tokens (",
        a.token_nll.size(), " and ", b.token_nll.size(), ")"));
  }
  const double n = static_cast<double>(a.token_nll.size());
  double mean = 0.0;
  for (size_t i = 0; i < a.token_nll.size(); ++i) {
    mean += (a.token_nll[i] - b.token_nll[i]) / n;
  }
  double var = 0.0;
  size_t at = 0;
  for (int64_t len : a.sequence_tokens) {
    double cluster = 0.0;
    for (int64_t k = 0; k < len; ++k, ++at) {
      cluster += a.token_nll[at] - b.token_nll[at] - mean;
    }
    var += cluster * cluster;
  }
  return PairedDifference{mean, std::sqrt(var) / n};
}

absl::StatusOr<Decision> Decide(const std::vector<ScoredCandidate>& cands,
                                const DecisionRule& rule,
                                const std::string& context_json) {
  using nlohmann::json;
  if (cands.empty()) return absl::InvalidArgumentError("no candidates");
  size_t best = 0;
  for (size_t k = 1; k < cands.size(); ++k) {
    if (cands[k].nll.nll_per_token() < cands[best].nll.nll_per_token()) {
      best = k;
    }
  }
  json list = json::array();
  std::vector<size_t> tied;
  for (size_t k = 0; k < cands.size(); ++k) {
    auto diff = PairedNllDifference(cands[k].nll, cands[best].nll);
    if (!diff.ok()) return diff.status();
    const bool within = k == best || diff->mean <= rule.z * diff->se;
    if (within) tied.push_back(k);
    list.push_back({{"name", cands[k].name},
                    {"kv_heads", cands[k].kv_heads},
                    {"heldback_nll", cands[k].nll.nll_per_token()},
                    {"heldback_ppl", cands[k].nll.perplexity()},
                    {"nll_minus_best", diff->mean},
                    {"se", diff->se},
                    {"within_z_se", within},
                    {"output_error", cands[k].output_error}});
  }
  Decision d;
  d.chosen = best;
  std::string rule_text = absl::StrFormat(
      "lowest held-back NLL; every other candidate is more than %.1f SE "
      "worse",
      rule.z);
  if (tied.size() > 1) {
    d.weak_evidence = true;
    for (size_t k : tied) {
      if (cands[k].output_error < cands[d.chosen].output_error) d.chosen = k;
    }
    rule_text = absl::StrFormat(
        "weak evidence: %d candidates within %.1f SE of the lowest held-back "
        "NLL (%s); chose the lowest mean layer-output error among them",
        tied.size(), rule.z, cands[best].name);
  }
  json record = json::parse(context_json, nullptr, false);
  if (!record.is_object()) record = json::object();
  const int64_t tokens = static_cast<int64_t>(cands[0].nll.token_nll.size());
  record["heldback_predicted_tokens"] = tokens;
  record["heldback_lines"] = cands[0].nll.sequences;
  record["z"] = rule.z;
  record["candidates"] = list;
  record["chosen"] = cands[d.chosen].name;
  record["rule"] = rule_text;
  record["weak_evidence"] = d.weak_evidence;
  if (tokens < rule.min_tokens) {
    record["warning"] = absl::StrCat(
        "only ", tokens, " held-back tokens (fewer than ", rule.min_tokens,
        "): the ranking may be noise; give more calibration lines");
  }
  d.json = record.dump();
  return d;
}

}  // namespace headroom::compress
