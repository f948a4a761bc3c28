// Calibration: run the original model over text and accumulate, per layer, in
// float64, the statistics every method needs (method.md "Calibration"). The
// memory is independent of the number of tokens, except for a bounded sample
// of per-layer attention inputs kept for refitting and for `auto`.
#ifndef HEADROOM_COMPRESS_CALIBRATION_H_
#define HEADROOM_COMPRESS_CALIBRATION_H_

#include <complex>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/model/model_weights.h"
#include "runtime/tokenizers/tokenizer.h"

namespace headroom::compress {

struct LayerStats {
  // Symbols: n KV heads, d head size, h query heads, P = d/2 RoPE pairs.
  // C_K over all heads: x_K = [k_0; ...; k_n-1] after RoPE, [n d, n d].
  std::vector<double> key_second_moment;
  // C_V likewise for the values, [n d, n d].
  std::vector<double> value_second_moment;
  // Per pair p, H_p = sum Z_p Z_p^H with Z_p = (z_0,p, ..., z_n-1,p) the keys'
  // pair p as complex numbers; [P, n, n]. Invariant under RoPE.
  std::vector<std::complex<double>> key_pair_second_moment;
  // Per KV head s, sum over the query heads j reading s of q_j q_j^T after
  // RoPE, [n, d, d]; and of |q_j,p|^2 per pair, [n, P].
  std::vector<double> query_second_moment;
  std::vector<double> query_pair_power;
};

// Attention inputs (RMS-normed) of whole sequences, per layer.
struct ActivationSample {
  std::vector<int> lengths;                // tokens per sequence
  std::vector<std::vector<float>> inputs;  // [layer][sum(lengths) * D]
  int64_t tokens() const;
};

struct CalibrationOptions {
  int64_t max_tokens = 0;  // stop after this many tokens (0: all the text)
  // Lines from the end of the text held back from the statistics and used
  // only to choose between candidates (`auto`, `--kv-budget`): as many as
  // it takes to reach this many tokens, but at most half of the lines (the
  // statistics keep the rest) and at least one when there are two or more; 0
  // holds nothing back. 16384 tokens resolve a mean NLL difference of about
  // 0.005 nats per token at two standard errors on TinyStories-like text (see
  // docs/compression.md, "auto").
  int64_t holdback_tokens = 16384;
  // For W_O refits: 65536 tokens, not 8192, make the refit's perplexity
  // 3.7-3.9% lower on stories260K and 0.3-0.7% on headroom-tiny
  // (docs/compression.md, "W_O refit"). Memory: tokens * D * layers floats.
  int64_t max_fit_sample_tokens = 65536;
  int64_t max_select_sample_tokens = 4096;  // for `auto`
};

struct CalibrationStats {
  int64_t tokens = 0;  // tokens that went into the statistics
  int64_t sequences = 0;
  // Index in the calibration texts of the first held-back text (the rest,
  // to the end, were not used for the statistics).
  size_t heldback_begin = 0;
  int64_t heldback_tokens = 0;  // tokens of those lines (BOS included)
  int64_t requested_heldback_tokens = 0;  // CalibrationOptions' target
  std::string text_digest;  // SHA-256 of the calibration texts, joined by \n
  std::vector<LayerStats> layers;
  ActivationSample fit_sample;     // from the statistics' own sequences
  ActivationSample select_sample;  // from the held-back sequences
};

// Calibration a layer at a time (as GPTQ-style quantizers do): every
// calibration sequence goes through layer 0 on the served CPU ops, its
// residual stream is kept, then through layer 1, and so on. The statistics
// are exactly those of the whole model's forward pass (the ops are batch-
// and chunk-invariant), but memory holds one layer's statistics and
// samples plus the residual stream of the calibration tokens ([tokens, D]
// floats), never every layer's.
//
// `on_plan` (may be empty) gets the stats before layer 0: counts, digest,
// held-back split and sample lengths, empty layers. `on_layer` gets layer
// l's statistics in stats.layers[l] and its samples' inputs[l]; they are
// freed when it returns. Returns the stats with every layer empty.
using PlanSink = std::function<absl::Status(const CalibrationStats& stats)>;
using LayerSink =
    std::function<absl::Status(int layer, CalibrationStats& stats)>;
absl::StatusOr<CalibrationStats> CalibrateByLayer(
    const runtime::ModelWeights& original, const runtime::Tokenizer& tokenizer,
    const std::vector<std::string>& texts, const CalibrationOptions& options,
    int threads, const PlanSink& on_plan, const LayerSink& on_layer);

// Every layer's statistics and samples at once (CalibrateByLayer, kept):
// for small models and tests. `original` must be uncompressed (n KV heads in
// every layer); each text is BOS + its tokens, truncated to the context.
absl::StatusOr<CalibrationStats> Calibrate(
    const runtime::ModelWeights& original, const runtime::Tokenizer& tokenizer,
    const std::vector<std::string>& texts, const CalibrationOptions& options,
    int threads);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_CALIBRATION_H_
