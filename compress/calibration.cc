#include "compress/calibration.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/model/forward_observer.h"
#include "runtime/sequence_runner.h"
#include "runtime/util/sha256.h"

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

class CalibrationObserver final : public runtime::ForwardObserver {
 public:
  enum class Mode { kStatistics, kSelectOnly };

  CalibrationObserver(const runtime::ModelConfig& config,
                      CalibrationStats& stats)
      : c_(config), stats_(stats) {}

  void set_mode(Mode mode) { mode_ = mode; }
  // Whether the current sequence's activations go into `sample`.
  void set_sample(ActivationSample* sample) { sample_ = sample; }

  void OnLayer(const runtime::LayerActivations& a) override {
    const int T = a.num_tokens, D = c_.dim;
    if (sample_ != nullptr) {
      auto& in = sample_->inputs[a.layer];
      in.insert(in.end(), a.attn_input, a.attn_input + int64_t{T} * D);
    }
    if (mode_ == Mode::kStatistics) Accumulate(a);
  }

 private:
  void Accumulate(const runtime::LayerActivations& a) {
    const int T = a.num_tokens, n = c_.n_kv_heads, d = c_.head_dim,
              h = c_.n_heads, P = d / 2, nd = n * d;
    LayerStats& s = stats_.layers[a.layer];
    AccumulateGram(a.keys, T, nd, nd, scratch_, s.key_second_moment);
    AccumulateGram(a.values, T, nd, nd, scratch_, s.value_second_moment);
    // Queries grouped by the KV head they read: rows [T * h/n, d] per head.
    const int per_kv = h / n;
    for (int kv = 0; kv < n; ++kv) {
      gathered_.resize(int64_t{T} * per_kv * d);
      for (int t = 0; t < T; ++t) {
        for (int r = 0; r < per_kv; ++r) {
          const float* q =
              a.queries + int64_t{t} * h * d + int64_t{kv * per_kv + r} * d;
          std::copy(q, q + d,
                    gathered_.begin() + (int64_t{t} * per_kv + r) * d);
        }
      }
      std::vector<double> block(int64_t{d} * d, 0.0);
      AccumulateGram(gathered_.data(), T * per_kv, d, d, scratch_, block);
      double* dst = s.query_second_moment.data() + int64_t{kv} * d * d;
      for (int64_t i = 0; i < int64_t{d} * d; ++i) dst[i] += block[i];
      for (int row = 0; row < T * per_kv; ++row) {
        const float* q = gathered_.data() + int64_t{row} * d;
        for (int p = 0; p < P; ++p) {
          const auto [ia, ib] = runtime::RopePair(c_.rope_style, d, p);
          s.query_pair_power[int64_t{kv} * P + p] +=
              double{q[ia]} * q[ia] + double{q[ib]} * q[ib];
        }
      }
    }
    // H_p += Z_p Z_p^H.
    std::vector<std::complex<double>> z(n);
    for (int t = 0; t < T; ++t) {
      const float* k = a.keys + int64_t{t} * nd;
      for (int p = 0; p < P; ++p) {
        const auto [ia, ib] = runtime::RopePair(c_.rope_style, d, p);
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

  const runtime::ModelConfig& c_;
  CalibrationStats& stats_;
  Mode mode_ = Mode::kStatistics;
  ActivationSample* sample_ = nullptr;
  std::vector<double> scratch_;
  std::vector<float> gathered_;
};

}  // namespace

int64_t ActivationSample::tokens() const {
  int64_t n = 0;
  for (int len : lengths) n += len;
  return n;
}

absl::StatusOr<CalibrationStats> Calibrate(
    runtime::Backend& backend, const runtime::Tokenizer& tokenizer,
    const std::vector<std::string>& texts, const CalibrationOptions& options) {
  const runtime::ModelConfig& c = backend.config();
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
  const int n = c.n_kv_heads, d = c.head_dim, nd = n * d, P = d / 2;
  CalibrationStats stats;
  stats.layers.resize(c.n_layers);
  for (LayerStats& s : stats.layers) {
    s.key_second_moment.assign(int64_t{nd} * nd, 0.0);
    s.value_second_moment.assign(int64_t{nd} * nd, 0.0);
    s.key_pair_second_moment.assign(int64_t{P} * n * n, 0.0);
    s.query_second_moment.assign(int64_t{n} * d * d, 0.0);
    s.query_pair_power.assign(int64_t{n} * P, 0.0);
  }
  stats.fit_sample.inputs.resize(c.n_layers);
  stats.select_sample.inputs.resize(c.n_layers);

  runtime::Sha256 digest;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i > 0) digest.Update("\n", 1);
    digest.Update(texts[i].data(), texts[i].size());
  }
  stats.text_digest = digest.HexDigest();

  // Held back: lines from the end until holdback_tokens is reached, at most
  // half of them, at least one of two or more (none when
  // holdback_tokens is 0).
  size_t holdback = 0;
  const size_t max_holdback = texts.size() / 2;
  while (options.holdback_tokens > 0 && holdback < max_holdback &&
         (holdback == 0 || stats.heldback_tokens < options.holdback_tokens)) {
    const std::string& text = texts[texts.size() - 1 - holdback];
    stats.heldback_tokens += std::min<int64_t>(
        tokenizer.Encode(text, /*add_bos=*/true).size(), c.max_seq_len);
    ++holdback;
  }
  const size_t stats_end = texts.size() - holdback;
  stats.heldback_begin = stats_end;
  stats.requested_heldback_tokens = options.holdback_tokens;

  CalibrationObserver observer(c, stats);
  if (auto s = backend.SetObserver(&observer); !s.ok()) return s;
  runtime::SequenceRunner runner(&backend);
  std::vector<float> logits;
  auto run = [&](size_t i, int64_t budget) -> absl::StatusOr<int64_t> {
    std::vector<int> ids = tokenizer.Encode(texts[i], /*add_bos=*/true);
    int64_t len = std::min<int64_t>(ids.size(), c.max_seq_len);
    if (budget > 0) len = std::min(len, budget);
    if (len <= 0) return 0;
    ids.resize(len);
    runner.Reset();
    if (auto s = runner.Append(ids, false, &logits); !s.ok()) return s;
    return len;
  };

  absl::Status status = absl::OkStatus();
  for (size_t i = 0; i < stats_end && status.ok(); ++i) {
    const int64_t left =
        options.max_tokens > 0 ? options.max_tokens - stats.tokens : 0;
    if (options.max_tokens > 0 && left <= 0) break;
    const bool record =
        stats.fit_sample.tokens() < options.max_fit_sample_tokens;
    observer.set_mode(CalibrationObserver::Mode::kStatistics);
    observer.set_sample(record ? &stats.fit_sample : nullptr);
    auto len = run(i, left);
    if (!len.ok()) {
      status = len.status();
      break;
    }
    if (record) stats.fit_sample.lengths.push_back(static_cast<int>(*len));
    stats.tokens += *len;
    ++stats.sequences;
  }
  for (size_t i = stats_end; i < texts.size() && status.ok(); ++i) {
    if (stats.select_sample.tokens() >= options.max_select_sample_tokens) break;
    observer.set_mode(CalibrationObserver::Mode::kSelectOnly);
    observer.set_sample(&stats.select_sample);
    auto len = run(i, 0);
    if (!len.ok()) {
      status = len.status();
      break;
    }
    stats.select_sample.lengths.push_back(static_cast<int>(*len));
  }
  (void)backend.SetObserver(nullptr);
  if (!status.ok()) return status;
  if (stats.tokens == 0) {
    return absl::InvalidArgumentError("calibration: the text gave no tokens");
  }
  for (LayerStats& s : stats.layers) {
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
  return stats;
}

}  // namespace headroom::compress
