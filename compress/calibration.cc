#include "compress/calibration.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "compress/layer_attention.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/model/decoder.h"
#include "runtime/util/sha256.h"
#include "runtime/util/status_macros.h"

namespace headroom::compress {
namespace {

// C (n x n, upper triangle) += X^T X for X [rows, n] in float.
void AccumulateGram(const float* x, int rows, int n, int ld,
                    std::vector<double>& scratch, std::vector<double>& c) {
  scratch.resize(int64_t{rows} * n);
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < n; ++i)
      scratch[int64_t{r} * n + i] = x[int64_t{r} * ld + i];
  }
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, rows, 1.0,
              scratch.data(), n, 1.0, c.data(), n);
}

void Symmetrize(std::vector<double>& c, int n) {
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < i; ++j) c[int64_t{i} * n + j] = c[int64_t{j} * n + i];
  }
}

// Adds one sequence's (or step's) T tokens of one layer to its statistics:
// keys and values [T, n d], queries [T, h d], all after RoPE.
void AccumulateLayer(const runtime::ModelConfig& c, const float* queries,
                     const float* keys, const float* values, int T,
                     LayerStats& s) {
  const int n = c.n_kv_heads, d = c.head_dim, h = c.n_heads, P = d / 2,
            nd = n * d;
  std::vector<double> scratch;
  AccumulateGram(keys, T, nd, nd, scratch, s.key_second_moment);
  AccumulateGram(values, T, nd, nd, scratch, s.value_second_moment);
  // Queries grouped by the KV head they read: rows [T * h/n, d] per head.
  const int per_kv = h / n;
  std::vector<float> gathered(int64_t{T} * per_kv * d);
  for (int kv = 0; kv < n; ++kv) {
    for (int t = 0; t < T; ++t) {
      for (int r = 0; r < per_kv; ++r) {
        const float* q =
            queries + int64_t{t} * h * d + int64_t{kv * per_kv + r} * d;
        std::copy(q, q + d, gathered.begin() + (int64_t{t} * per_kv + r) * d);
      }
    }
    std::vector<double> block(int64_t{d} * d, 0.0);
    AccumulateGram(gathered.data(), T * per_kv, d, d, scratch, block);
    double* dst = s.query_second_moment.data() + int64_t{kv} * d * d;
    for (int64_t i = 0; i < int64_t{d} * d; ++i) dst[i] += block[i];
    for (int row = 0; row < T * per_kv; ++row) {
      const float* q = gathered.data() + int64_t{row} * d;
      for (int p = 0; p < P; ++p) {
        const auto [ia, ib] = runtime::RopePair(c.rope_style, d, p);
        s.query_pair_power[int64_t{kv} * P + p] +=
            double{q[ia]} * q[ia] + double{q[ib]} * q[ib];
      }
    }
  }
  // H_p += Z_p Z_p^H.
  std::vector<std::complex<double>> z(n);
  for (int t = 0; t < T; ++t) {
    const float* k = keys + int64_t{t} * nd;
    for (int p = 0; p < P; ++p) {
      const auto [ia, ib] = runtime::RopePair(c.rope_style, d, p);
      for (int head = 0; head < n; ++head) {
        z[head] = {k[head * d + ia], k[head * d + ib]};
      }
      std::complex<double>* hp =
          s.key_pair_second_moment.data() + int64_t{p} * n * n;
      for (int x = 0; x < n; ++x) {
        for (int y = 0; y < n; ++y) hp[x * n + y] += z[x] * std::conj(z[y]);
      }
    }
  }
}

}  // namespace

int64_t ActivationSample::tokens() const {
  int64_t n = 0;
  for (int len : lengths) n += len;
  return n;
}

namespace {

absl::Status CheckCalibrationInputs(const runtime::ModelConfig& c,
                                    const std::vector<std::string>& texts,
                                    const CalibrationOptions& options) {
  for (int l = 0; l < c.n_layers; ++l) {
    if (c.CacheKvHeads(l) != c.n_kv_heads) {
      return absl::FailedPreconditionError(absl::StrCat(
          "calibration needs the uncompressed model; layer ", l, " caches ",
          c.CacheKvHeads(l), " of ", c.n_kv_heads, " KV heads"));
    }
  }
  if (texts.empty()) {
    return absl::InvalidArgumentError("calibration: no calibration text");
  }
  if (options.holdback_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration: holdback_tokens must be >= 0, got ",
                     options.holdback_tokens));
  }
  return absl::OkStatus();
}

// The sequences calibration runs, in order: the statistics' own (the first
// fit_sample.lengths.size() of them recorded for refits), then the
// held-back ones recorded for selection. Fills everything of `stats` but
// its layers and sample inputs.
std::vector<std::vector<int>> PlanSequences(
    const runtime::ModelConfig& c, const runtime::Tokenizer& tokenizer,
    const std::vector<std::string>& texts, const CalibrationOptions& options,
    CalibrationStats& stats) {
  runtime::Sha256 digest;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i > 0) digest.Update("\n", 1);
    digest.Update(texts[i].data(), texts[i].size());
  }
  stats.text_digest = digest.HexDigest();
  auto encode = [&](size_t i, int64_t budget) {
    std::vector<int> ids = tokenizer.Encode(texts[i], /*add_bos=*/true);
    int64_t len = std::min<int64_t>(ids.size(), c.max_seq_len);
    if (budget > 0) len = std::min(len, budget);
    ids.resize(std::max<int64_t>(len, 0));
    return ids;
  };
  // Held back: lines from the end until holdback_tokens is reached, at most
  // half of them, at least one of two or more (none when holdback_tokens is
  // 0).
  size_t holdback = 0;
  const size_t max_holdback = texts.size() / 2;
  while (options.holdback_tokens > 0 && holdback < max_holdback &&
         (holdback == 0 || stats.heldback_tokens < options.holdback_tokens)) {
    stats.heldback_tokens += encode(texts.size() - 1 - holdback, 0).size();
    ++holdback;
  }
  const size_t stats_end = texts.size() - holdback;
  stats.heldback_begin = stats_end;
  stats.requested_heldback_tokens = options.holdback_tokens;

  std::vector<std::vector<int>> runs;
  for (size_t i = 0; i < stats_end; ++i) {
    const int64_t left =
        options.max_tokens > 0 ? options.max_tokens - stats.tokens : 0;
    if (options.max_tokens > 0 && left <= 0) break;
    std::vector<int> ids = encode(i, left);
    if (stats.fit_sample.tokens() < options.max_fit_sample_tokens) {
      stats.fit_sample.lengths.push_back(static_cast<int>(ids.size()));
    }
    stats.tokens += static_cast<int64_t>(ids.size());
    ++stats.sequences;
    runs.push_back(std::move(ids));
  }
  for (size_t i = stats_end; i < texts.size(); ++i) {
    if (stats.select_sample.tokens() >= options.max_select_sample_tokens) break;
    std::vector<int> ids = encode(i, 0);
    stats.select_sample.lengths.push_back(static_cast<int>(ids.size()));
    runs.push_back(std::move(ids));
  }
  return runs;
}

LayerStats ZeroLayerStats(const runtime::ModelConfig& c) {
  const int n = c.n_kv_heads, d = c.head_dim, nd = n * d, P = d / 2;
  LayerStats s;
  s.key_second_moment.assign(int64_t{nd} * nd, 0.0);
  s.value_second_moment.assign(int64_t{nd} * nd, 0.0);
  s.key_pair_second_moment.assign(int64_t{P} * n * n, 0.0);
  s.query_second_moment.assign(int64_t{n} * d * d, 0.0);
  s.query_pair_power.assign(int64_t{n} * P, 0.0);
  return s;
}

// The upper triangles the Gram updates wrote, mirrored.
void SymmetrizeLayer(const runtime::ModelConfig& c, LayerStats& s) {
  const int n = c.n_kv_heads, d = c.head_dim, nd = n * d;
  Symmetrize(s.key_second_moment, nd);
  Symmetrize(s.value_second_moment, nd);
  for (int kv = 0; kv < n; ++kv) {
    std::vector<double> block(
        s.query_second_moment.begin() + int64_t{kv} * d * d,
        s.query_second_moment.begin() + int64_t{kv + 1} * d * d);
    Symmetrize(block, d);
    std::copy(block.begin(), block.end(),
              s.query_second_moment.begin() + int64_t{kv} * d * d);
  }
}

// Runs layer `layer` (of `ops`, a one-layer model: its layer 0) over one
// sequence `ids` whose residual stream x [T, D] it updates in place (layer
// 0 embeds the ids instead of reading x); adds the sequence to `stats` and
// appends its attention inputs to `sample` (each when not null).
absl::Status RunCalibrationLayer(runtime::cpu::CpuOps& ops, int layer,
                                 const std::vector<int>& ids, float* x,
                                 LayerStats* stats,
                                 std::vector<float>* sample) {
  const runtime::ModelConfig& c = ops.config();
  const int T = static_cast<int>(ids.size()), D = c.dim;
  const runtime::Batch batch = OneSequenceBatch(ops, ids);
  HEADROOM_RETURN_IF_ERROR(ops.BeginStep(batch));
  if (layer == 0) {
    HEADROOM_RETURN_IF_ERROR(ops.Embed());
  } else {
    HEADROOM_RETURN_IF_ERROR(
        ops.Write(runtime::Activation::kResidual, 0,
                  std::vector<float>(x, x + int64_t{T} * D)));
  }
  runtime::LayerHooks hooks;
  hooks.after_qkv = [&]() -> absl::Status {
    using runtime::Activation;
    const float* normed = ops.HostView(Activation::kNormed);
    if (sample != nullptr)
      sample->insert(sample->end(), normed, normed + int64_t{T} * D);
    if (stats != nullptr) {
      AccumulateLayer(c, ops.HostView(Activation::kQueries),
                      ops.HostView(Activation::kKeys),
                      ops.HostView(Activation::kValues), T, *stats);
    }
    return absl::OkStatus();
  };
  HEADROOM_RETURN_IF_ERROR(runtime::RunLayer(ops, 0, hooks));
  auto out = ops.Read(runtime::Activation::kResidual, 0);
  if (!out.ok()) return out.status();
  std::copy(out->begin(), out->end(), x);
  std::vector<float> no_logits;
  return ops.FinishStep(&no_logits);
}

}  // namespace

absl::StatusOr<CalibrationStats> CalibrateByLayer(
    const runtime::ModelWeights& original, const runtime::Tokenizer& tokenizer,
    const std::vector<std::string>& texts, const CalibrationOptions& options,
    int threads, const PlanSink& on_plan, const LayerSink& on_layer) {
  const runtime::ModelConfig& c = original.config;
  HEADROOM_RETURN_IF_ERROR(CheckCalibrationInputs(c, texts, options));
  CalibrationStats stats;
  const std::vector<std::vector<int>> runs =
      PlanSequences(c, tokenizer, texts, options, stats);
  if (stats.tokens == 0) {
    return absl::InvalidArgumentError("calibration: the text gave no tokens");
  }
  stats.layers.resize(c.n_layers);
  stats.fit_sample.inputs.resize(c.n_layers);
  stats.select_sample.inputs.resize(c.n_layers);
  if (on_plan) HEADROOM_RETURN_IF_ERROR(on_plan(stats));

  // The residual stream of every run between layers: [sum of lengths, D].
  const int D = c.dim;
  std::vector<int64_t> offset(runs.size() + 1, 0);
  int max_len = 1;
  for (size_t r = 0; r < runs.size(); ++r) {
    offset[r + 1] = offset[r] + static_cast<int64_t>(runs[r].size());
    max_len = std::max(max_len, static_cast<int>(runs[r].size()));
  }
  std::vector<float> residual(offset.back() * D);
  const size_t n_stats = static_cast<size_t>(stats.sequences);
  const size_t n_fit = stats.fit_sample.lengths.size();
  for (int l = 0; l < c.n_layers; ++l) {
    // Layer 0 embeds the ids; the others read the kept residual stream.
    auto ops =
        OneLayerCpuOps(c, original.layers[l], c.n_kv_heads, max_len, threads,
                       l == 0 ? original.token_embedding : runtime::Tensor());
    if (!ops.ok()) return ops.status();
    LayerStats& layer_stats = stats.layers[l] = ZeroLayerStats(c);
    for (size_t r = 0; r < runs.size(); ++r) {
      const int T = static_cast<int>(runs[r].size());
      if (T == 0) continue;
      ActivationSample* sample = r < n_fit      ? &stats.fit_sample
                                 : r >= n_stats ? &stats.select_sample
                                                : nullptr;
      float* x = residual.data() + offset[r] * D;
      auto s = RunCalibrationLayer(
          **ops, l, runs[r], x, r < n_stats ? &layer_stats : nullptr,
          sample != nullptr ? &sample->inputs[l] : nullptr);
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat("calibration: layer ", l,
                                                   ": ", s.message()));
      }
    }
    SymmetrizeLayer(c, layer_stats);
    if (on_layer) HEADROOM_RETURN_IF_ERROR(on_layer(l, stats));
    stats.layers[l] = LayerStats();  // freed: the caller took what it needs
    stats.fit_sample.inputs[l] = {};
    stats.select_sample.inputs[l] = {};
  }
  return stats;
}

absl::StatusOr<CalibrationStats> Calibrate(
    const runtime::ModelWeights& original, const runtime::Tokenizer& tokenizer,
    const std::vector<std::string>& texts, const CalibrationOptions& options,
    int threads) {
  std::vector<LayerStats> layers;
  std::vector<std::vector<float>> fit, select;
  auto keep = [&](int, CalibrationStats& s) {
    const size_t l = layers.size();
    layers.push_back(std::move(s.layers[l]));
    fit.push_back(std::move(s.fit_sample.inputs[l]));
    select.push_back(std::move(s.select_sample.inputs[l]));
    return absl::OkStatus();
  };
  auto stats =
      CalibrateByLayer(original, tokenizer, texts, options, threads, {}, keep);
  if (!stats.ok()) return stats.status();
  stats->layers = std::move(layers);
  stats->fit_sample.inputs = std::move(fit);
  stats->select_sample.inputs = std::move(select);
  return stats;
}

}  // namespace headroom::compress
