#include "compress/methods.h"

#include <algorithm>
#include <cmath>
#include <complex>

#include "absl/strings/str_cat.h"
#include "compress/linalg.h"

namespace headroom::compress {
namespace {

using Complex = std::complex<double>;

// Shapes of one layer's problem (method.md notation).
struct Dims {
  int h, n, g, t, d, D, P;  // P = d/2 RoPE pairs
  runtime::RopeStyle style;
};

// Encoders Enc_i (d x t d) and per-KV-head decoders Dec_s (d x d) of one
// kind (keys or values), in double while they are built.
struct Codec {
  std::vector<double> enc;  // [g, d, t d]
  std::vector<double> dec;  // [n, d, d]: k_s ~= Dec_s k~_i
};

Codec NewCodec(const Dims& m) {
  Codec c;
  c.enc.assign(int64_t{m.g} * m.d * m.t * m.d, 0.0);
  c.dec.assign(int64_t{m.n} * m.d * m.d, 0.0);
  return c;
}

double& Enc(Codec& c, const Dims& m, int i, int row, int col) {
  return c.enc[(int64_t{i} * m.d + row) * m.t * m.d + col];
}
double& Dec(Codec& c, const Dims& m, int s, int row, int col) {
  return c.dec[(int64_t{s} * m.d + row) * m.d + col];
}

// Block (t d x t d) of group i from a [n d, n d] second moment.
std::vector<double> GroupBlock(const std::vector<double>& c, const Dims& m,
                               int i) {
  const int td = m.t * m.d, nd = m.n * m.d, off = i * td;
  std::vector<double> b(int64_t{td} * td);
  for (int r = 0; r < td; ++r) {
    for (int col = 0; col < td; ++col) {
      b[int64_t{r} * td + col] = c[int64_t{off + r} * nd + off + col];
    }
  }
  return b;
}

// Mean-pool: Enc_i = [I/t ... I/t], Dec_s = I.
Codec MeanPool(const Dims& m) {
  Codec c = NewCodec(m);
  for (int i = 0; i < m.g; ++i) {
    for (int s = 0; s < m.t; ++s) {
      for (int r = 0; r < m.d; ++r) Enc(c, m, i, r, s * m.d + r) = 1.0 / m.t;
    }
  }
  for (int s = 0; s < m.n; ++s) {
    for (int r = 0; r < m.d; ++r) Dec(c, m, s, r, r) = 1.0;
  }
  return c;
}

// Orthogonal projection on the top-d eigenvectors of each group's matrix:
// Enc_i = P_i (rows), Dec_s = P_i,s^T (method.md "SVD-a").
absl::StatusOr<Codec> TopEigenCodec(
    const Dims& m, const std::vector<std::vector<double>>& group_matrices) {
  Codec c = NewCodec(m);
  const int td = m.t * m.d;
  for (int i = 0; i < m.g; ++i) {
    auto eig = EigenSymmetric(td, group_matrices[i]);
    if (!eig.ok()) return eig.status();
    for (int r = 0; r < m.d; ++r) {
      for (int col = 0; col < td; ++col) {
        Enc(c, m, i, r, col) = eig->vectors[int64_t{r} * td + col];
      }
    }
    for (int s = 0; s < m.t; ++s) {
      for (int r = 0; r < m.d; ++r) {
        for (int col = 0; col < m.d; ++col) {
          Dec(c, m, i * m.t + s, r, col) = Enc(c, m, i, col, s * m.d + r);
        }
      }
    }
  }
  return c;
}

// Symmetric square root and inverse square root of a d x d SPD matrix with a
// ridge of 1e-6 of its mean eigenvalue (so a rank-deficient moment is safe).
absl::Status SqrtAndInverseSqrt(int d, const std::vector<double>& a,
                                std::vector<double>* root,
                                std::vector<double>* inv_root) {
  auto eig = EigenSymmetric(d, a);
  if (!eig.ok()) return eig.status();
  double mean = 0.0;
  for (double v : eig->values) mean += std::max(v, 0.0);
  mean = mean / d;
  const double ridge = 1e-6 * mean + 1e-30;
  root->assign(int64_t{d} * d, 0.0);
  inv_root->assign(int64_t{d} * d, 0.0);
  for (int k = 0; k < d; ++k) {
    const double lam = std::max(eig->values[k], 0.0) + ridge;
    const double s = std::sqrt(lam), is = 1.0 / s;
    const double* v = eig->vectors.data() + int64_t{k} * d;
    for (int r = 0; r < d; ++r) {
      for (int col = 0; col < d; ++col) {
        (*root)[int64_t{r} * d + col] += s * v[r] * v[col];
        (*inv_root)[int64_t{r} * d + col] += is * v[r] * v[col];
      }
    }
  }
  return absl::OkStatus();
}

// Weighted low-rank reconstruction: minimise sum_s E|W_s (x_s - x^_s)|^2 with
// W_s = metric_s^{1/2}. With W = blockdiag(W_s) and U the top-d eigenvectors
// of W C W: Enc = U^T W, Dec = W^{-1} U (method.md items 1 and 2).
absl::StatusOr<Codec> WhitenedEigenCodec(
    const Dims& m, const std::vector<std::vector<double>>& group_matrices,
    const std::vector<std::vector<double>>& metric_per_head) {
  const int td = m.t * m.d, d = m.d;
  std::vector<std::vector<double>> root(m.n), inv_root(m.n);
  for (int s = 0; s < m.n; ++s) {
    if (auto st =
            SqrtAndInverseSqrt(d, metric_per_head[s], &root[s], &inv_root[s]);
        !st.ok())
      return st;
  }
  Codec c = NewCodec(m);
  for (int i = 0; i < m.g; ++i) {
    // W C W for the group; W block-diagonal.
    const std::vector<double>& cm = group_matrices[i];
    std::vector<double> wc(int64_t{td} * td, 0.0), wcw(int64_t{td} * td, 0.0);
    for (int bs = 0; bs < m.t; ++bs) {
      const auto& w = root[i * m.t + bs];
      for (int r = 0; r < d; ++r) {
        for (int col = 0; col < td; ++col) {
          double acc = 0.0;
          for (int k = 0; k < d; ++k) {
            acc += w[int64_t{r} * d + k] * cm[int64_t{bs * d + k} * td + col];
          }
          wc[int64_t{bs * d + r} * td + col] = acc;
        }
      }
    }
    for (int r = 0; r < td; ++r) {
      for (int bs = 0; bs < m.t; ++bs) {
        const auto& w = root[i * m.t + bs];
        for (int col = 0; col < d; ++col) {
          double acc = 0.0;
          for (int k = 0; k < d; ++k) {
            acc += wc[int64_t{r} * td + bs * d + k] * w[int64_t{k} * d + col];
          }
          wcw[int64_t{r} * td + bs * d + col] = acc;
        }
      }
    }
    auto eig = EigenSymmetric(td, wcw);
    if (!eig.ok()) return eig.status();
    for (int k = 0; k < d; ++k) {
      const double* u = eig->vectors.data() + int64_t{k} * td;
      for (int bs = 0; bs < m.t; ++bs) {
        const auto& w = root[i * m.t + bs];
        const auto& iw = inv_root[i * m.t + bs];
        for (int col = 0; col < d; ++col) {
          // Enc row k, block bs: u_bs^T W_bs; Dec_bs column k: W_bs^-1 u_bs.
          double e = 0.0, dv = 0.0;
          for (int r = 0; r < d; ++r) {
            e += u[bs * d + r] * w[int64_t{r} * d + col];
            dv += iw[int64_t{col} * d + r] * u[bs * d + r];
          }
          Enc(c, m, i, k, bs * d + col) = e;
          Dec(c, m, i * m.t + bs, col, k) = dv;
        }
      }
    }
  }
  return c;
}

// RoPE-commuting keys: per pair p of group i, the top eigenvector u of the
// (optionally weighted) Hermitian H_p. With weights w_s (query power),
// H'_p = D^{1/2} H_p D^{1/2}; z~_p = sum_s conj(u_s) sqrt(w_s) z_s,p and
// z_s,p ~= u_s / sqrt(w_s) z~_p. Unweighted: w = 1 (method.md).
absl::StatusOr<Codec> RopeCommutingCodec(const Dims& m, const LayerStats& st,
                                         bool query_weighted) {
  Codec c = NewCodec(m);
  for (int i = 0; i < m.g; ++i) {
    for (int p = 0; p < m.P; ++p) {
      std::vector<double> w(m.t, 1.0);
      if (query_weighted) {
        double mean = 0.0;
        for (int s = 0; s < m.t; ++s) {
          w[s] = st.query_pair_power[int64_t{i * m.t + s} * m.P + p];
          mean += w[s] / m.t;
        }
        for (double& v : w) v += 1e-6 * mean + 1e-30;
      }
      std::vector<Complex> hp(int64_t{m.t} * m.t);
      const Complex* full =
          st.key_pair_second_moment.data() + int64_t{p} * m.n * m.n;
      for (int a = 0; a < m.t; ++a) {
        for (int b = 0; b < m.t; ++b) {
          hp[a * m.t + b] =
              full[(i * m.t + a) * m.n + i * m.t + b] * std::sqrt(w[a] * w[b]);
        }
      }
      auto eig = EigenHermitian(m.t, hp);
      if (!eig.ok()) return eig.status();
      const auto [ia, ib] = runtime::RopePair(m.style, m.d, p);
      for (int s = 0; s < m.t; ++s) {
        const Complex u = eig->vectors[s];  // row 0: the top eigenvector
        // Encoder: multiply z_s by e = conj(u_s) sqrt(w_s):
        // (x + iy) e = (er x - ei y) + i (ei x + er y).
        const Complex e = std::conj(u) * std::sqrt(w[s]);
        Enc(c, m, i, ia, s * m.d + ia) = e.real();
        Enc(c, m, i, ia, s * m.d + ib) = -e.imag();
        Enc(c, m, i, ib, s * m.d + ia) = e.imag();
        Enc(c, m, i, ib, s * m.d + ib) = e.real();
        // Decoder: multiply z~ by u_s / sqrt(w_s).
        const Complex dv = u / std::sqrt(w[s]);
        const int head = i * m.t + s;
        Dec(c, m, head, ia, ia) = dv.real();
        Dec(c, m, head, ia, ib) = -dv.imag();
        Dec(c, m, head, ib, ia) = dv.imag();
        Dec(c, m, head, ib, ib) = dv.real();
      }
    }
  }
  return c;
}

// Gram matrices of the stacked weight rows of each group (SVD-w): the left
// singular vectors of W (t d x D) are the eigenvectors of W W^T.
std::vector<std::vector<double>> WeightGrams(const runtime::Tensor& tensor,
                                             const Dims& m) {
  const int td = m.t * m.d;
  const runtime::Tensor w = tensor.AsF32();
  std::vector<std::vector<double>> grams(m.g);
  for (int i = 0; i < m.g; ++i) {
    grams[i].assign(int64_t{td} * td, 0.0);
    const float* base = w.f32() + int64_t{i} * td * m.D;
    for (int r = 0; r < td; ++r) {
      for (int col = r; col < td; ++col) {
        double acc = 0.0;
        for (int k = 0; k < m.D; ++k) {
          acc +=
              double{base[int64_t{r} * m.D + k]} * base[int64_t{col} * m.D + k];
        }
        grams[i][int64_t{r} * td + col] = grams[i][int64_t{col} * td + r] = acc;
      }
    }
  }
  return grams;
}

std::vector<std::vector<double>> StatGroups(const std::vector<double>& c,
                                            const Dims& m) {
  std::vector<std::vector<double>> out(m.g);
  for (int i = 0; i < m.g; ++i) out[i] = GroupBlock(c, m, i);
  return out;
}

// Output-aware value metric per KV head s: sum over the query heads j that
// read s of W_O,j^T W_O,j (d x d).
std::vector<std::vector<double>> OutputMetric(const runtime::LayerWeights& lw,
                                              const Dims& m) {
  std::vector<std::vector<double>> metric(
      m.n, std::vector<double>(int64_t{m.d} * m.d, 0.0));
  const int hd = m.h * m.d;
  const runtime::Tensor wo_f32 = lw.wo.AsF32();
  const float* wo = wo_f32.f32();
  for (int j = 0; j < m.h; ++j) {
    auto& mt = metric[j / (m.h / m.n)];
    for (int r = 0; r < m.d; ++r) {
      for (int col = 0; col < m.d; ++col) {
        double acc = 0.0;
        for (int row = 0; row < m.D; ++row) {
          acc += double{wo[int64_t{row} * hd + j * m.d + r]} *
                 wo[int64_t{row} * hd + j * m.d + col];
        }
        mt[int64_t{r} * m.d + col] += acc;
      }
    }
  }
  return metric;
}

std::vector<std::vector<double>> QueryMetric(const LayerStats& st,
                                             const Dims& m) {
  std::vector<std::vector<double>> metric(m.n);
  for (int s = 0; s < m.n; ++s) {
    metric[s].assign(
        st.query_second_moment.begin() + int64_t{s} * m.d * m.d,
        st.query_second_moment.begin() + int64_t{s + 1} * m.d * m.d);
  }
  return metric;
}

// Writes a codec into a LayerProjection: encoders as they are, decoders per
// query head (keys: Q_j = Dec_s(j)^T; values: V_j = Dec_s(j)).
void StoreCodecs(const Dims& m, const Codec& keys, const Codec& values,
                 LayerProjection* out) {
  out->key_encoder.assign(keys.enc.begin(), keys.enc.end());
  out->value_encoder.assign(values.enc.begin(), values.enc.end());
  out->query_decoder.assign(int64_t{m.h} * m.d * m.d, 0.0f);
  out->value_decoder.assign(int64_t{m.h} * m.d * m.d, 0.0f);
  for (int j = 0; j < m.h; ++j) {
    const int s = j / (m.h / m.n);
    for (int r = 0; r < m.d; ++r) {
      for (int col = 0; col < m.d; ++col) {
        out->query_decoder[(int64_t{j} * m.d + r) * m.d + col] =
            static_cast<float>(keys.dec[(int64_t{s} * m.d + col) * m.d + r]);
        out->value_decoder[(int64_t{j} * m.d + r) * m.d + col] =
            static_cast<float>(values.dec[(int64_t{s} * m.d + r) * m.d + col]);
      }
    }
  }
}

}  // namespace

std::string BaseMethodName(BaseMethod method) {
  switch (method) {
    case BaseMethod::kMeanPool:
      return "mean-pool";
    case BaseMethod::kSvdW:
      return "svd-w";
    case BaseMethod::kSvdA:
      return "svd-a";
    case BaseMethod::kRopeCommuting:
      return "rope-commuting";
    case BaseMethod::kSvdAAware:
      return "svd-a-qa";
    case BaseMethod::kRopeCommutingAware:
      return "rope-commuting-qa";
  }
  return "unknown";
}

std::vector<BaseMethod> AllBaseMethods() {
  return {BaseMethod::kMeanPool,  BaseMethod::kSvdW,
          BaseMethod::kSvdA,      BaseMethod::kRopeCommuting,
          BaseMethod::kSvdAAware, BaseMethod::kRopeCommutingAware};
}

absl::StatusOr<MethodSpec> ParseMethod(const std::string& name) {
  MethodSpec spec;
  spec.name = name;
  if (name == "auto") {
    spec.is_auto = true;
    return spec;
  }
  std::string base = name;
  const std::string suffix = "+refit";
  if (base.size() > suffix.size() &&
      base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0) {
    spec.refit_wo = true;
    base.resize(base.size() - suffix.size());
  }
  for (BaseMethod m : AllBaseMethods()) {
    if (BaseMethodName(m) == base) {
      spec.base = m;
      return spec;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown method '", name, "'; --list-methods prints the known ones"));
}

std::string DescribeMethods() {
  return "mean-pool          average the K and V heads of each group "
         "(baseline)\n"
         "svd-w              data-free SVD of the stacked K/V weights "
         "(baseline)\n"
         "svd-a              the paper: eigenvectors of calibration KV caches; "
         "post-RoPE key projection at runtime\n"
         "rope-commuting     per-RoPE-pair complex eigenvectors, folded: an "
         "ordinary GQA model\n"
         "svd-a-qa           svd-a with query-aware keys and output-aware "
         "values (ours)\n"
         "rope-commuting-qa  rope-commuting weighted by query power, "
         "output-aware values (ours)\n"
         "METHOD+refit       any of the above, then W_O refit by least squares "
         "on calibration activations (ours)\n"
         "auto               per layer, the candidate with the lowest "
         "attention-output error on held-back tokens (ours)\n";
}

absl::Status CheckMethodApplies(BaseMethod base,
                                const runtime::ModelConfig& config) {
  const bool folds_keys_before_rope = base == BaseMethod::kMeanPool ||
                                      base == BaseMethod::kRopeCommuting ||
                                      base == BaseMethod::kRopeCommutingAware;
  if (folds_keys_before_rope && config.qk_norm) {
    return absl::FailedPreconditionError(absl::StrCat(
        BaseMethodName(base),
        " folds the key projection into W_K before RoPE, which the model's "
        "per-head key norm (qk_norm) does not commute with; use svd-a, "
        "svd-a-qa or svd-w"));
  }
  return absl::OkStatus();
}

std::vector<BaseMethod> ApplicableBaseMethods(
    const runtime::ModelConfig& config) {
  std::vector<BaseMethod> out;
  for (BaseMethod m : AllBaseMethods()) {
    if (CheckMethodApplies(m, config).ok()) out.push_back(m);
  }
  return out;
}

absl::StatusOr<LayerProjection> ComputeLayerProjection(
    BaseMethod base, const runtime::ModelWeights& weights, int layer,
    const LayerStats* stats, int kv_heads) {
  const runtime::ModelConfig& c = weights.config;
  if (layer < 0 || layer >= c.n_layers) {
    return absl::InvalidArgumentError(
        absl::StrCat("layer ", layer, " out of range"));
  }
  if (kv_heads <= 0 || c.n_kv_heads % kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--kv-heads ", kv_heads,
                                                   " must divide the model's ",
                                                   c.n_kv_heads, " KV heads"));
  }
  const runtime::LayerWeights& lw = weights.layers[layer];
  if (lw.has_post_rope_proj() || c.CacheKvHeads(layer) != c.n_kv_heads) {
    return absl::FailedPreconditionError(
        absl::StrCat("layer ", layer,
                     " is already compressed; compress the original model"));
  }
  if (absl::Status s = CheckMethodApplies(base, c); !s.ok()) return s;
  const bool needs_stats =
      base != BaseMethod::kMeanPool && base != BaseMethod::kSvdW;
  if (needs_stats && stats == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(BaseMethodName(base), " needs calibration statistics"));
  }
  Dims m{c.n_heads,  c.n_kv_heads, kv_heads,       c.n_kv_heads / kv_heads,
         c.head_dim, c.dim,        c.head_dim / 2, c.rope_style};
  LayerProjection out;
  out.method = BaseMethodName(base);
  out.kv_heads = kv_heads;
  absl::StatusOr<Codec> keys = absl::InternalError("unset");
  absl::StatusOr<Codec> values = absl::InternalError("unset");
  switch (base) {
    case BaseMethod::kMeanPool:
      out.key_mode = KeyMode::kPreRope;
      keys = MeanPool(m);
      values = MeanPool(m);
      break;
    case BaseMethod::kSvdW:
      out.key_mode = KeyMode::kPostRope;
      keys = TopEigenCodec(m, WeightGrams(lw.wk, m));
      values = TopEigenCodec(m, WeightGrams(lw.wv, m));
      break;
    case BaseMethod::kSvdA:
      out.key_mode = KeyMode::kPostRope;
      keys = TopEigenCodec(m, StatGroups(stats->key_second_moment, m));
      values = TopEigenCodec(m, StatGroups(stats->value_second_moment, m));
      break;
    case BaseMethod::kRopeCommuting:
      out.key_mode = KeyMode::kPreRope;
      keys = RopeCommutingCodec(m, *stats, /*query_weighted=*/false);
      values = TopEigenCodec(m, StatGroups(stats->value_second_moment, m));
      break;
    case BaseMethod::kSvdAAware:
      out.key_mode = KeyMode::kPostRope;
      keys = WhitenedEigenCodec(m, StatGroups(stats->key_second_moment, m),
                                QueryMetric(*stats, m));
      values = WhitenedEigenCodec(m, StatGroups(stats->value_second_moment, m),
                                  OutputMetric(lw, m));
      break;
    case BaseMethod::kRopeCommutingAware:
      out.key_mode = KeyMode::kPreRope;
      keys = RopeCommutingCodec(m, *stats, /*query_weighted=*/true);
      values = WhitenedEigenCodec(m, StatGroups(stats->value_second_moment, m),
                                  OutputMetric(lw, m));
      break;
  }
  if (!keys.ok()) return keys.status();
  if (!values.ok()) return values.status();
  StoreCodecs(m, *keys, *values, &out);
  if (stats != nullptr) {
    out.key_energy = EnergyKept(c, out, stats->key_second_moment, true);
    out.value_energy = EnergyKept(c, out, stats->value_second_moment, false);
  }
  return out;
}

double EnergyKept(const runtime::ModelConfig& config, const LayerProjection& p,
                  const std::vector<double>& c, bool keys) {
  const int n = config.n_kv_heads, d = config.head_dim, h = config.n_heads;
  const int g = p.kv_heads, t = n / g, td = t * d, nd = n * d;
  const auto& enc = keys ? p.key_encoder : p.value_encoder;
  const auto& dec = keys ? p.query_decoder : p.value_decoder;
  double total = 0.0, error = 0.0;
  for (int i = 0; i < nd; ++i) total += c[int64_t{i} * nd + i];
  for (int i = 0; i < g; ++i) {
    // E = I - R, R = Dec Enc (t d x t d); error = tr(E C E^T).
    std::vector<double> e(int64_t{td} * td, 0.0);
    for (int bs = 0; bs < t; ++bs) {
      const int j = (i * t + bs) * (h / n);  // a query head reading head s
      for (int r = 0; r < d; ++r) {
        for (int col = 0; col < td; ++col) {
          double acc = 0.0;
          for (int k = 0; k < d; ++k) {
            // Dec_s[r][k]: keys store Q_j = Dec_s^T, values V_j = Dec_s.
            const double dv = keys ? dec[(int64_t{j} * d + k) * d + r]
                                   : dec[(int64_t{j} * d + r) * d + k];
            acc += dv * enc[(int64_t{i} * d + k) * td + col];
          }
          e[int64_t{bs * d + r} * td + col] =
              (bs * d + r == col ? 1.0 : 0.0) - acc;
        }
      }
    }
    const int off = i * td;
    // tr(E C E^T) = sum_{r} sum_{a,b} E[r][a] C[a][b] E[r][b]
    for (int r = 0; r < td; ++r) {
      for (int a = 0; a < td; ++a) {
        const double era = e[int64_t{r} * td + a];
        if (era == 0.0) continue;
        double acc = 0.0;
        for (int b = 0; b < td; ++b) {
          acc += c[int64_t{off + a} * nd + off + b] * e[int64_t{r} * td + b];
        }
        error += era * acc;
      }
    }
  }
  return total > 0.0 ? 1.0 - error / total : 1.0;
}

}  // namespace headroom::compress
