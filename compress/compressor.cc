#include "compress/compressor.h"

#include <cblas.h>

#include <limits>

#include "absl/strings/str_cat.h"
#include "compress/apply.h"
#include "compress/layer_attention.h"
#include "compress/linalg.h"
#include "compress/methods.h"
#include "nlohmann/json.hpp"
#include "runtime/model/model_digest.h"

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

  // Least-squares W_O (method.md item 5): argmin sum |y - W a~|^2 over the
  // fit sample, y the original layer output and a~ the compressed heads.
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
    const auto& sample = stats_.fit_sample;
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
  std::vector<double> select_targets_;
};

}  // namespace

absl::StatusOr<Projections> ComputeProjections(
    const runtime::ModelWeights& original, const CalibrationStats& stats,
    const CompressOptions& options) {
  const runtime::ModelConfig& c = original.config;
  auto spec = ParseMethod(options.method);
  if (!spec.ok()) return spec.status();
  if (options.kv_heads <= 0 || c.n_kv_heads % options.kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kv-heads ", options.kv_heads,
                     " must divide the model's ", c.n_kv_heads, " KV heads"));
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

  if (spec->is_auto && stats.select_sample.lengths.empty()) {
    // Choosing on the statistics' own lines would favour whatever fits them
    // best (the refits): refuse rather than pick silently.
    return absl::InvalidArgumentError(absl::StrCat(
        "method auto chooses per layer on calibration lines held back from "
        "the statistics, but none were held back (all ",
        stats.sequences,
        " calibration lines went into the statistics): give at least 2 "
        "calibration lines (the last ones are held back), or name a method"));
  }
  const bool have_samples = !stats.fit_sample.lengths.empty();
  // auto: every candidate of every layer, [layer][candidate].
  std::vector<std::vector<LayerProjection>> all_candidates;
  for (int l = 0; l < c.n_layers; ++l) {
    std::vector<std::pair<BaseMethod, bool>> candidates;
    if (spec->is_auto) {
      for (BaseMethod m : ApplicableBaseMethods(c)) {
        candidates.push_back({m, false});
        if (have_samples) candidates.push_back({m, true});
      }
    } else {
      candidates.push_back({spec->base, spec->refit_wo});
    }
    if (!have_samples && (spec->is_auto || spec->refit_wo)) {
      return absl::FailedPreconditionError(absl::StrCat(
          spec->name, " needs calibration activation samples; none were kept"));
    }
    LayerProblem problem(original, l, stats);
    if (auto s = problem.Init(); !s.ok()) return s;
    LayerProjection best;
    double best_error = std::numeric_limits<double>::infinity();
    for (auto [base, refit] : candidates) {
      auto p = ComputeLayerProjection(base, original, l, &stats.layers[l],
                                      options.kv_heads);
      if (!p.ok()) return p.status();
      if (refit) {
        if (auto s = problem.RefitOutput(&*p, options.refit_ridge); !s.ok())
          return s;
      }
      if (have_samples) {
        auto err = problem.OutputError(*p);
        if (!err.ok()) return err.status();
        p->output_error = *err;
      }
      if (candidates.size() == 1 || p->output_error < best_error) {
        best_error = p->output_error;
        best = *p;
      }
      if (spec->is_auto) {
        if (all_candidates.size() <= static_cast<size_t>(l)) {
          all_candidates.resize(l + 1);
        }
        all_candidates[l].push_back(std::move(*p));
      }
    }
    out.layers.push_back(std::move(best));
  }
  if (spec->is_auto && options.score) {
    // Whole-model check: the per-layer choice against each uniform method.
    auto mixed = options.score(out);
    if (!mixed.ok()) return mixed.status();
    nlohmann::json log = nlohmann::json::array();
    log.push_back({{"candidate", "per-layer"}, {"score", *mixed}});
    double best_score = *mixed;
    Projections best = out;
    for (size_t k = 0; k < all_candidates[0].size(); ++k) {
      Projections uniform = out;
      for (int l = 0; l < c.n_layers; ++l)
        uniform.layers[l] = all_candidates[l][k];
      auto score = options.score(uniform);
      if (!score.ok()) return score.status();
      log.push_back(
          {{"candidate", uniform.layers[0].method}, {"score", *score}});
      if (*score < best_score) {
        best_score = *score;
        best = std::move(uniform);
      }
    }
    out = std::move(best);
    out.auto_selection = log.dump();
  }
  return out;
}

}  // namespace headroom::compress
