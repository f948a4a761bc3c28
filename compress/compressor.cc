#include "compress/compressor.h"

#include <cblas.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "compress/apply.h"
#include "compress/compress_settings.h"
#include "compress/head_order.h"
#include "compress/layer_attention.h"
#include "compress/linalg.h"
#include "compress/methods.h"
#include "nlohmann/json.hpp"
#include "runtime/model/model_digest.h"
#include "runtime/util/status_macros.h"

namespace headroom::compress {
namespace {

// One layer of the original model and its outputs on the samples.
class LayerProblem {
 public:
  LayerProblem(const runtime::ModelWeights& original, int layer,
               const CalibrationStats& stats)
      : w_(original), layer_(layer), stats_(stats) {}

  // The original layer's outputs on the selection sample; call once first.
  absl::Status Init() {
    auto targets =
        Targets(SelectSample(), w_.layers[layer_], w_.config.n_kv_heads);
    if (!targets.ok()) return targets.status();
    select_targets_ = std::move(*targets);
    return absl::OkStatus();
  }

  // The layer's weights after `p` (a model of one layer, so the projection
  // machinery applies unchanged).
  absl::StatusOr<runtime::ModelWeights> Candidate(
      const LayerProjection& p) const {
    runtime::ModelWeights one;
    one.config = w_.config;
    one.config.n_layers = 1;
    one.config.cache_kv_heads.clear();
    one.layers = {w_.layers[layer_]};
    if (auto s = ApplyLayerProjection(p, 0, &one); !s.ok()) return s;
    return one;
  }

  // Where the compressed heads a~ of the refit read their inputs: the
  // original model's attention inputs (default) or, when set, those of the
  // model with the layers before this one already compressed (the same
  // lines and tokens as the fit sample).
  void SetRefitInputs(const ActivationSample* inputs) {
    refit_inputs_ = inputs;
  }

  // Least-squares W_O (method.md item 5): argmin sum |y - W a~|^2 over the
  // fit sample, y the original layer output (on the original inputs) and a~
  // the compressed heads.
  absl::Status RefitOutput(LayerProjection* p, double ridge) {
    auto cand = Candidate(*p);
    if (!cand.ok()) return cand.status();
    const auto& c = w_.config;
    const int hd = c.n_heads * c.head_dim, D = c.dim;
    if (fit_targets_.empty()) {  // computed once, only when a refit needs it
      auto targets =
          Targets(stats_.fit_sample, w_.layers[layer_], c.n_kv_heads);
      if (!targets.ok()) return targets.status();
      fit_targets_ = std::move(*targets);
    }
    std::vector<double> gram(int64_t{hd} * hd, 0.0),
        cross(int64_t{hd} * D, 0.0);
    std::vector<double> a64;
    int64_t offset = 0;
    const auto& sample =
        refit_inputs_ != nullptr ? *refit_inputs_ : stats_.fit_sample;
    for (size_t sq = 0; sq < sample.lengths.size(); ++sq) {
      const int T = sample.lengths[sq];
      std::vector<float> att;
      if (auto s = DenseLayerAttention(
              c, layer_, cand->layers[0], p->kv_heads,
              sample.inputs[layer_].data() + offset * D, T, &att);
          !s.ok()) {
        return s;
      }
      a64.assign(att.begin(), att.end());
      std::vector<double> y(fit_targets_.begin() + offset * D,
                            fit_targets_.begin() + (offset + T) * D);
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, hd, T, 1.0, a64.data(),
                  hd, 1.0, gram.data(), hd);
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hd, D, T, 1.0,
                  a64.data(), hd, y.data(), D, 1.0, cross.data(), D);
      offset += T;
    }
    double mean_diag = 0.0;
    for (int i = 0; i < hd; ++i) mean_diag += gram[int64_t{i} * hd + i] / hd;
    for (int i = 0; i < hd; ++i) {
      gram[int64_t{i} * hd + i] += ridge * mean_diag + 1e-12;
      for (int j = 0; j < i; ++j)
        gram[int64_t{i} * hd + j] = gram[int64_t{j} * hd + i];
    }
    auto x = SolveSpd(hd, std::move(gram), D, std::move(cross));  // [hd, D]
    if (!x.ok()) {
      return absl::InternalError(absl::StrCat("W_O refit of layer ", layer_,
                                              ": ", x.status().message()));
    }
    p->wo.resize(int64_t{D} * hd);
    for (int r = 0; r < D; ++r) {
      for (int col = 0; col < hd; ++col) {
        p->wo[int64_t{r} * hd + col] =
            static_cast<float>((*x)[int64_t{col} * D + r]);
      }
    }
    p->method += "+refit";
    return absl::OkStatus();
  }

  // sum |y - y~|^2 / sum |y|^2 on the held-back sample.
  absl::StatusOr<double> OutputError(const LayerProjection& p) const {
    auto cand = Candidate(p);
    if (!cand.ok()) return cand.status();
    const auto& c = w_.config;
    const int hd = c.n_heads * c.head_dim, D = c.dim;
    const ActivationSample& sample = SelectSample();
    const runtime::Tensor wo = cand->layers[0].wo.AsF32();
    double err = 0.0, norm = 0.0;
    int64_t offset = 0;
    for (size_t sq = 0; sq < sample.lengths.size(); ++sq) {
      const int T = sample.lengths[sq];
      std::vector<float> att, y(int64_t{T} * D);
      if (auto s = DenseLayerAttention(
              c, layer_, cand->layers[0], p.kv_heads,
              sample.inputs[layer_].data() + offset * D, T, &att);
          !s.ok()) {
        return s;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, D, hd, 1.0f,
                  att.data(), hd, wo.f32(), hd, 0.0f, y.data(), D);
      for (int64_t i = 0; i < int64_t{T} * D; ++i) {
        const double ref = select_targets_[offset * D + i];
        err += (ref - y[i]) * (ref - y[i]);
        norm += ref * ref;
      }
      offset += T;
    }
    return norm > 0.0 ? err / norm : 0.0;
  }

 private:
  const ActivationSample& SelectSample() const {
    return stats_.select_sample.lengths.empty() ? stats_.fit_sample
                                                : stats_.select_sample;
  }

  // Original layer outputs y = W_O attn(...) for every token of `sample`.
  absl::StatusOr<std::vector<double>> Targets(const ActivationSample& sample,
                                              const runtime::LayerWeights& lw,
                                              int g) const {
    const auto& c = w_.config;
    const int hd = c.n_heads * c.head_dim, D = c.dim;
    std::vector<double> out;
    const runtime::Tensor wo = lw.wo.AsF32();
    int64_t offset = 0;
    for (size_t sq = 0; sq < sample.lengths.size(); ++sq) {
      const int T = sample.lengths[sq];
      std::vector<float> att, y(int64_t{T} * D);
      if (auto s = DenseLayerAttention(
              c, layer_, lw, g, sample.inputs[layer_].data() + offset * D, T,
              &att);
          !s.ok()) {
        return s;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, D, hd, 1.0f,
                  att.data(), hd, wo.f32(), hd, 0.0f, y.data(), D);
      out.insert(out.end(), y.begin(), y.end());
      offset += T;
    }
    return out;
  }

  const runtime::ModelWeights& w_;
  int layer_;
  const CalibrationStats& stats_;
  std::vector<double> fit_targets_;  // lazily, for refits
  const ActivationSample* refit_inputs_ = nullptr;
  std::vector<double> select_targets_;
};

// Every candidate projection of one layer at one g: the method's, or for
// `auto` every base method with and without refit; with regrouping each of
// them on contiguous and on regrouped heads (for a named method, the one of
// the two with the lower output error). `best` has the lowest output error
// on the held-back sample; `labels` name the variants the same way in every
// layer (a whole-model candidate takes variant k everywhere).
std::vector<int> Divisors(int n) {
  std::vector<int> out;
  for (int g = 1; g <= n; ++g) {
    if (n % g == 0) out.push_back(g);
  }
  return out;
}

// Layer `layer` of `original` alone, its KV heads reordered by `order`.
absl::StatusOr<runtime::ModelWeights> ReorderedLayer(
    const runtime::ModelWeights& original, int layer,
    const std::vector<int>& order) {
  runtime::ModelWeights one;
  one.config = original.config;
  one.config.n_layers = 1;
  one.config.cache_kv_heads.clear();
  one.layers = {original.layers[layer]};
  if (!order.empty()) {
    if (auto s = PermuteKvHeads(one.config, order, layer, &one.layers[0]);
        !s.ok())
      return s;
  }
  return one;
}

// The candidates of every (method, refit) in `methods` on the heads in
// `order` (empty: contiguous).
absl::StatusOr<std::vector<LayerProjection>> VariantsOn(
    const runtime::ModelWeights& original, const CalibrationStats& stats,
    const std::vector<std::pair<BaseMethod, bool>>& methods,
    const CompressOptions& options, int layer, int g,
    const std::vector<int>& order, LayerProblem& problem) {
  auto one = ReorderedLayer(original, layer, order);
  if (!one.ok()) return one.status();
  // Contiguous heads use the statistics in place: a copy is the layer's
  // fp64 covariances, about 260 MiB at LLaMA-2-7B's shapes.
  std::optional<LayerStats> permuted;
  if (!order.empty()) {
    permuted = PermuteLayerStats(original.config, stats.layers[layer], order);
  }
  const LayerStats& st = permuted ? *permuted : stats.layers[layer];
  const bool have_samples = !stats.fit_sample.lengths.empty();
  std::vector<LayerProjection> out;
  for (auto [base, refit] : methods) {
    auto p = ComputeLayerProjection(base, *one, 0, &st, g);
    if (!p.ok()) return p.status();
    p->kv_order = order;
    if (refit) {
      if (auto s = problem.RefitOutput(&*p, options.refit_ridge); !s.ok())
        return s;
    }
    if (!order.empty()) p->method += "+regroup";
    if (have_samples) {
      auto err = problem.OutputError(*p);
      if (!err.ok()) return err.status();
      p->output_error = *err;
    }
    out.push_back(*std::move(p));
  }
  return out;
}

absl::StatusOr<LayerVariants> LayerCandidates(
    const runtime::ModelWeights& original, const CalibrationStats& stats,
    const MethodSpec& spec, const CompressOptions& options, int layer, int g,
    LayerProblem& problem) {
  std::vector<std::pair<BaseMethod, bool>> methods;
  if (spec.is_auto) {
    for (BaseMethod m : ApplicableBaseMethods(original.config)) {
      methods.push_back({m, false});
      methods.push_back({m, true});
    }
  } else {
    methods.push_back({spec.base, spec.refit_wo});
  }
  LayerVariants out;
  auto contiguous =
      VariantsOn(original, stats, methods, options, layer, g, {}, problem);
  if (!contiguous.ok()) return contiguous.status();
  out.variants = *std::move(contiguous);
  for (auto [base, refit] : methods) {
    out.labels.push_back(BaseMethodName(base) + (refit ? "+refit" : ""));
  }
  if (options.regroup) {
    auto order = ChooseHeadOrder(original.config, stats.layers[layer], g);
    if (!order.ok()) return order.status();
    std::vector<LayerProjection> regrouped = out.variants;
    if (!IsIdentityOrder(*order)) {
      auto v = VariantsOn(original, stats, methods, options, layer, g, *order,
                          problem);
      if (!v.ok()) return v.status();
      regrouped = *std::move(v);
    }
    if (spec.is_auto) {
      for (size_t k = 0; k < methods.size(); ++k) {
        out.variants.push_back(regrouped[k]);
        out.labels.push_back(out.labels[k] + "+regroup");
      }
    } else if (regrouped[0].output_error < out.variants[0].output_error) {
      out.variants[0] = regrouped[0];
    }
  }
  for (size_t k = 1; k < out.variants.size(); ++k) {
    if (out.variants[k].output_error < out.variants[out.best].output_error) {
      out.best = k;
    }
  }
  return out;
}

double MeanOutputError(const Projections& p) {
  double sum = 0.0;
  for (const LayerProjection& l : p.layers) sum += l.output_error;
  return p.layers.empty() ? 0.0 : sum / p.layers.size();
}

// Minimises sum_l loss[l][k_l] subject to sum_l g[k_l] <= budget, exactly
// (dynamic programming over layers and KV heads used). Returns the index
// into `gs` per layer, or empty when even g = min everywhere exceeds it.
std::vector<int> AllocateHeads(const std::vector<std::vector<double>>& loss,
                               const std::vector<int>& gs, int budget) {
  const int L = static_cast<int>(loss.size());
  const double inf = std::numeric_limits<double>::infinity();
  // best[l][b]: least loss of layers 0..l-1 using exactly b heads.
  std::vector<std::vector<double>> best(L + 1,
                                        std::vector<double>(budget + 1, inf));
  std::vector<std::vector<int>> pick(L + 1, std::vector<int>(budget + 1, -1));
  best[0][0] = 0.0;
  for (int l = 0; l < L; ++l) {
    for (int b = 0; b <= budget; ++b) {
      if (best[l][b] == inf) continue;
      for (size_t k = 0; k < gs.size(); ++k) {
        const int nb = b + gs[k];
        if (nb > budget) continue;
        const double v = best[l][b] + loss[l][k];
        if (v < best[l + 1][nb]) {
          best[l + 1][nb] = v;
          pick[l + 1][nb] = static_cast<int>(k);
        }
      }
    }
  }
  int end = -1;
  for (int b = 0; b <= budget; ++b) {
    if (best[L][b] < inf && (end < 0 || best[L][b] < best[L][end])) end = b;
  }
  if (end < 0) return {};
  std::vector<int> out(L);
  for (int l = L, b = end; l > 0; --l) {
    out[l - 1] = pick[l][b];
    b -= gs[pick[l][b]];
  }
  return out;
}

struct Sensitivity {
  std::vector<std::vector<double>> loss;  // [layer][index into gs]
  nlohmann::json record;
};

// Held-back NLL increase when layer l alone is compressed to each g (its
// lowest-output-error candidate; the others kept exact). g = n costs
// nothing: every method reproduces the layer there.
absl::StatusOr<Sensitivity> BudgetSensitivity(
    const runtime::ModelWeights& original, const CompressOptions& options,
    const std::vector<std::vector<LayerVariants>>& table,
    const std::vector<int>& gs) {
  const runtime::ModelConfig& c = original.config;
  auto identity = IdentityProjections(original);
  if (!identity.ok()) return identity.status();
  const Projections& exact = *identity;
  auto base = options.score(exact);
  if (!base.ok()) return base.status();
  Sensitivity out;
  out.record = nlohmann::json::object();
  out.record["original_heldback_nll"] = base->nll_per_token();
  nlohmann::json rows = nlohmann::json::array();
  out.loss.assign(c.n_layers, std::vector<double>(gs.size(), 0.0));
  for (int l = 0; l < c.n_layers; ++l) {
    for (size_t k = 0; k < gs.size(); ++k) {
      if (gs[k] == c.n_kv_heads) continue;
      Projections one = exact;
      one.layers[l] = table[l][k].variants[table[l][k].best];
      auto nll = options.score(one);
      if (!nll.ok()) return nll.status();
      auto diff = PairedNllDifference(*nll, *base);
      if (!diff.ok()) return diff.status();
      out.loss[l][k] = diff->mean;
      rows.push_back({{"layer", l},
                      {"kv_heads", gs[k]},
                      {"method", one.layers[l].method},
                      {"delta_nll", diff->mean},
                      {"se", diff->se}});
    }
  }
  out.record["sensitivity"] = rows;
  return out;
}

}  // namespace

absl::StatusOr<Projections> IdentityProjections(
    const runtime::ModelWeights& original) {
  const runtime::ModelConfig& c = original.config;
  Projections p;
  p.method = "identity";
  p.model_digest = runtime::ModelDigest(original);
  p.n_layers = c.n_layers;
  p.dim = c.dim;
  p.n_heads = c.n_heads;
  p.n_kv_heads = c.n_kv_heads;
  p.head_dim = c.head_dim;
  for (int l = 0; l < c.n_layers; ++l) {
    auto id = ComputeLayerProjection(BaseMethod::kMeanPool, original, l,
                                     nullptr, c.n_kv_heads);
    if (!id.ok()) return id.status();
    p.layers.push_back(*std::move(id));
  }
  return p;
}

absl::StatusOr<std::unique_ptr<ProjectionsBuilder>> ProjectionsBuilder::Create(
    const runtime::ModelWeights& original, const CalibrationStats& stats,
    const CompressOptions& options) {
  const runtime::ModelConfig& c = original.config;
  auto spec = ParseMethod(options.method);
  if (!spec.ok()) return spec.status();
  const bool budget_mode = options.kv_budget != 0.0;
  CompressSettings shape;
  shape.kv_heads = options.kv_heads;
  shape.kv_budget = options.kv_budget;
  if (auto bad = CheckSettings(shape, c.n_kv_heads)) {
    return absl::InvalidArgumentError(
        absl::StrCat(FlagName(bad->field), " ", bad->message));
  }
  if (static_cast<int>(stats.layers.size()) != c.n_layers) {
    return absl::InvalidArgumentError(
        "calibration statistics do not match the model's layer count");
  }
  Projections out;
  out.method = spec->name;
  out.model_digest = runtime::ModelDigest(original);
  out.calibration_digest = stats.text_digest;
  out.calibration_tokens = stats.tokens;
  out.n_layers = c.n_layers;
  out.dim = c.dim;
  out.n_heads = c.n_heads;
  out.n_kv_heads = c.n_kv_heads;
  out.head_dim = c.head_dim;

  const bool decides = spec->is_auto || budget_mode;
  if (decides && stats.select_sample.lengths.empty()) {
    // Choosing on the statistics' own lines would favour whatever fits them
    // best (the refits): refuse rather than pick silently.
    return absl::InvalidArgumentError(absl::StrCat(
        spec->is_auto ? "method auto" : "--kv-budget",
        " chooses on calibration lines held back from the statistics, but "
        "none were held back (all ",
        stats.sequences,
        " calibration lines went into the statistics): give at least 2 "
        "calibration lines (the last ones are held back)",
        spec->is_auto ? ", or name a method" : ""));
  }
  if (budget_mode && !options.score) {
    return absl::InvalidArgumentError(
        "--kv-budget measures each layer's sensitivity on the held-back "
        "lines: no held-back scorer was given");
  }
  if ((spec->is_auto || spec->refit_wo) && stats.fit_sample.lengths.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        spec->name, " needs calibration activation samples; none were kept"));
  }
  const std::vector<int> gs =
      budget_mode ? Divisors(c.n_kv_heads) : std::vector<int>{options.kv_heads};
  // table[l][k]: the candidates of layer l at g = gs[k].
  const bool propagated = options.refit_inputs == RefitInputs::kPropagated;
  if (propagated && (decides || !spec->refit_wo || options.regroup ||
                     !options.record_inputs)) {
    return absl::InvalidArgumentError(
        "refit on propagated inputs takes a named METHOD+refit at one "
        "--kv-heads, without --regroup (and an input recorder)");
  }
  auto b = std::unique_ptr<ProjectionsBuilder>(
      new ProjectionsBuilder(original, options));  // private constructor
  b->spec_ = *std::move(spec);
  b->budget_mode_ = budget_mode;
  b->gs_ = gs;
  b->propagated_ = propagated;
  b->out_ = std::move(out);
  b->table_.resize(c.n_layers);
  b->requested_heldback_tokens_ = stats.requested_heldback_tokens;
  return b;
}

absl::Status ProjectionsBuilder::AddLayer(int l,
                                          const CalibrationStats& stats) {
  const runtime::ModelWeights& original = original_;
  const CompressOptions& options = options_;
  if (l != next_layer_) {
    return absl::InternalError(absl::StrCat(
        "projections: layer ", l, " given, layer ", next_layer_, " expected"));
  }
  LayerProblem problem(original, l, stats);
  if (auto s = problem.Init(); !s.ok()) return s;
  ActivationSample inputs;  // propagated: layers before l compressed
  if (propagated_ && l > 0) {
    auto prefix = IdentityProjections(original);
    if (!prefix.ok()) return prefix.status();
    for (int k = 0; k < l; ++k) prefix->layers[k] = table_[k][0].variants[0];
    auto recorded = options.record_inputs(*prefix);
    if (!recorded.ok()) return recorded.status();
    if (recorded->lengths != stats.fit_sample.lengths) {
      return absl::InternalError(
          "propagated refit inputs cover other tokens than the fit sample");
    }
    inputs = *std::move(recorded);
    problem.SetRefitInputs(&inputs);
  }
  for (int g : gs_) {
    auto v = LayerCandidates(original, stats, spec_, options, l, g, problem);
    if (!v.ok()) return v.status();
    table_[l].push_back(*std::move(v));
  }
  ++next_layer_;
  return absl::OkStatus();
}

absl::StatusOr<Projections> ProjectionsBuilder::Finish() {
  using nlohmann::json;
  const runtime::ModelConfig& c = original_.config;
  const runtime::ModelWeights& original = original_;
  if (next_layer_ != c.n_layers) {
    return absl::InternalError(absl::StrCat(
        "projections: ", next_layer_, " of ", c.n_layers, " layers given"));
  }
  const size_t n_variants = table_[0][0].variants.size();
  // A whole model: layer l at gs_[alloc[l]], variant `k` (npos: each layer's
  // lowest output error).
  const size_t kPerLayer = static_cast<size_t>(-1);
  auto assemble = [&](const std::vector<int>& alloc, size_t k) {
    Projections p = out_;
    for (int l = 0; l < c.n_layers; ++l) {
      const LayerVariants& lv = table_[l][alloc[l]];
      p.layers.push_back(lv.variants[k == kPerLayer ? lv.best : k]);
    }
    return p;
  };
  std::vector<std::vector<int>> allocations;
  json context = json::object();
  if (!budget_mode_) {
    allocations.push_back(std::vector<int>(c.n_layers, 0));
  } else {
    auto sensitivity = BudgetSensitivity(original, options_, table_, gs_);
    if (!sensitivity.ok()) return sensitivity.status();
    const int budget_heads = static_cast<int>(
        std::floor(options_.kv_budget * c.n_kv_heads * c.n_layers + 1e-9));
    std::vector<int> alloc =
        AllocateHeads(sensitivity->loss, gs_, budget_heads);
    allocations.push_back(alloc);
    const double uniform_g = options_.kv_budget * c.n_kv_heads;
    for (size_t k = 0; k < gs_.size(); ++k) {
      if (std::abs(gs_[k] - uniform_g) < 1e-9) {
        std::vector<int> uniform(c.n_layers, static_cast<int>(k));
        if (uniform != alloc) allocations.push_back(uniform);
      }
    }
    context = sensitivity->record;
    context["kv_budget"] = options_.kv_budget;
    context["budget_kv_heads"] = budget_heads;
    double predicted = 0.0;
    json allocation = json::array();
    for (int l = 0; l < c.n_layers; ++l) {
      predicted += sensitivity->loss[l][alloc[l]];
      allocation.push_back(gs_[alloc[l]]);
    }
    context["allocation"] = allocation;
    context["predicted_delta_nll"] = predicted;
  }
  std::vector<Projections> candidates;
  std::vector<std::string> names;
  for (size_t a = 0; a < allocations.size(); ++a) {
    std::string prefix;
    if (budget_mode_) prefix = a == 0 ? "allocated:" : "uniform:";
    if (n_variants > 1) {
      candidates.push_back(assemble(allocations[a], kPerLayer));
      names.push_back(prefix + "per-layer");
    }
    for (size_t k = 0; k < n_variants; ++k) {
      candidates.push_back(assemble(allocations[a], k));
      names.push_back(prefix + table_[0][allocations[a][0]].labels[k]);
    }
  }
  if (candidates.size() == 1 || !options_.score) {
    // One candidate (a named method at one g), or auto without a scorer:
    // the per-layer choice by output error.
    Projections chosen = std::move(candidates[0]);
    if (budget_mode_) {  // the allocation is the uniform one: say so
      context["chosen"] = names[0];
      context["rule"] = "the only candidate (the allocation is uniform)";
      chosen.decision = context.dump();
    }
    return chosen;
  }
  std::vector<ScoredCandidate> scored;
  for (size_t k = 0; k < candidates.size(); ++k) {
    auto nll = options_.score(candidates[k]);
    if (!nll.ok()) return nll.status();
    scored.push_back({names[k], *std::move(nll), MeanOutputError(candidates[k]),
                      candidates[k].KvHeadsPerLayer()});
  }
  context["requested_heldback_tokens"] = requested_heldback_tokens_;
  auto decision = Decide(scored, options_.rule, context.dump());
  if (!decision.ok()) return decision.status();
  Projections chosen = std::move(candidates[decision->chosen]);
  chosen.decision = decision->json;
  return chosen;
}

absl::StatusOr<Projections> ComputeProjections(
    const runtime::ModelWeights& original, const CalibrationStats& stats,
    const CompressOptions& options) {
  auto builder = ProjectionsBuilder::Create(original, stats, options);
  if (!builder.ok()) return builder.status();
  for (int l = 0; l < original.config.n_layers; ++l) {
    if (auto s = (*builder)->AddLayer(l, stats); !s.ok()) return s;
  }
  return (*builder)->Finish();
}

absl::StatusOr<std::vector<Projections>> CalibrateAndCompress(
    const runtime::ModelWeights& original, const runtime::Tokenizer& tokenizer,
    const std::vector<std::string>& texts,
    const CalibrationOptions& calibration, int threads,
    std::vector<CompressOptions> options, const OptionsPreparer& prepare,
    CalibrationStats* stats, CompressionTimes* times) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::vector<double> transform(options.size(), 0.0);
  auto timed = [&transform](size_t k, auto&& step) {
    const auto t0 = Clock::now();
    auto result = step();
    transform[k] += std::chrono::duration<double>(Clock::now() - t0).count();
    return result;
  };
  std::vector<std::unique_ptr<ProjectionsBuilder>> builders;
  auto on_plan = [&](const CalibrationStats& plan) -> absl::Status {
    for (CompressOptions& o : options) {
      if (prepare) HEADROOM_RETURN_IF_ERROR(prepare(plan, o));
      auto b = ProjectionsBuilder::Create(original, plan, o);
      if (!b.ok()) return b.status();
      builders.push_back(*std::move(b));
    }
    return absl::OkStatus();
  };
  auto on_layer = [&](int layer, CalibrationStats& s) -> absl::Status {
    for (size_t k = 0; k < builders.size(); ++k) {
      HEADROOM_RETURN_IF_ERROR(
          timed(k, [&] { return builders[k]->AddLayer(layer, s); }));
    }
    return absl::OkStatus();
  };
  auto plan = CalibrateByLayer(original, tokenizer, texts, calibration, threads,
                               on_plan, on_layer);
  if (!plan.ok()) return plan.status();
  std::vector<Projections> out;
  for (size_t k = 0; k < builders.size(); ++k) {
    auto p = timed(k, [&] { return builders[k]->Finish(); });
    if (!p.ok()) return p.status();
    out.push_back(*std::move(p));
  }
  if (stats != nullptr) *stats = *std::move(plan);
  if (times != nullptr) {
    times->transform_seconds = transform;
    times->calibration_seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    for (double t : transform) times->calibration_seconds -= t;
  }
  return out;
}

}  // namespace headroom::compress
