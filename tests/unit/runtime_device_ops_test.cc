// Each op of DeviceOps (runtime/ops/device_ops.h) against a plain scalar
// reference in double precision, on random shapes: GQA groups 1..8, head
// sizes 8..256, odd widths and sequence lengths, a layer with SVD-a's
// post-RoPE projections, pages shuffled. The reference reads each op's
// inputs back from the device (so a device that stores an activation in
// fp16/bf16 is compared on the values it actually holds) and the bound on
// the difference is derived from the storage type's unit roundoff, never
// tuned to a machine (see Bound below).
//
// The same harness runs the CUDA ops in CUDA builds (cuda_device_ops_test,
// HEADROOM_TEST_CUDA_OPS) when a device exists, so the first GPU run tells
// which op is wrong (scripts/gpu-check.sh).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "runtime/cpu/cpu_backend.h"
#include "runtime/ops/device_ops.h"
#if defined(HEADROOM_TEST_CUDA_OPS)
#include "runtime/cuda/cuda_backend.h"
#endif

namespace headroom::runtime {
namespace {

using ::testing::HasSubstr;

// A shape to run every op on.
struct OpsShape {
  int heads = 8;         // h
  int kv_heads = 4;      // n = g_0 (layer 0 uncompressed)
  int cached_1 = 2;      // g_1: layer 1 keeps SVD-a projections to g_1 heads
  int head_dim = 16;     // d
  int dim = 72;          // D
  int hidden = 100;      // F
  bool biases = false;   // every bias: b_Q, b_K, b_V, b_O, b_1, b_3, b_2
  bool qk_norm = false;  // Qwen3's per-head norms
  int window = 0;        // sliding_window
};

std::string ShapeName(const ::testing::TestParamInfo<OpsShape>& info) {
  const OpsShape& s = info.param;
  return "h" + std::to_string(s.heads) + "_n" + std::to_string(s.kv_heads) +
         "_g" + std::to_string(s.cached_1) + "_d" + std::to_string(s.head_dim) +
         (s.biases ? "_bias" : "") + (s.qk_norm ? "_qknorm" : "") +
         (s.window > 0 ? "_window" + std::to_string(s.window) : "");
}

ModelConfig ConfigOf(const OpsShape& s) {
  ModelConfig c;
  c.dim = s.dim;
  c.hidden_dim = s.hidden;
  c.n_layers = 2;
  c.n_heads = s.heads;
  c.n_kv_heads = s.kv_heads;
  c.head_dim = s.head_dim;
  c.vocab_size = 37;
  c.max_seq_len = 64;
  c.rope_theta = 10000.0f;
  c.rope_style = RopeStyle::kHalf;
  c.tied_embeddings = false;
  c.cache_kv_heads = {s.kv_heads, s.cached_1};
  c.qkv_bias = c.output_bias = c.mlp_bias = s.biases;
  c.qk_norm = s.qk_norm;
  c.sliding_window = s.window;
  return c;
}

std::vector<float> Uniform(std::mt19937& rng, int64_t n, float scale) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

ModelWeights RandomWeights(const ModelConfig& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t D = c.dim, d = c.head_dim, h = c.n_heads, F = c.hidden_dim;
  auto matrix = [&](int64_t rows, int64_t cols) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
    return Tensor::FromF32(Uniform(rng, rows * cols, scale), rows, cols);
  };
  auto norm = [&](int64_t n = 0) {
    std::vector<float> w = Uniform(rng, n > 0 ? n : D, 0.5f);
    for (float& x : w) x += 1.0f;
    return w;
  };
  ModelWeights w;
  w.config = c;
  w.token_embedding = matrix(c.vocab_size, D);
  for (int l = 0; l < c.n_layers; ++l) {
    const int64_t g = c.CacheKvHeads(l);
    const bool proj = l == 1;
    const int64_t nk = proj ? c.n_kv_heads : g;
    LayerWeights lw;
    lw.rms_att = norm();
    lw.rms_ffn = norm();
    lw.wq = matrix(h * d, D);
    lw.wk = matrix(nk * d, D);
    lw.wv = matrix(g * d, D);
    lw.wo = matrix(D, h * d);
    lw.w1 = matrix(F, D);
    lw.w3 = matrix(F, D);
    lw.w2 = matrix(D, F);
    if (c.qkv_bias) {
      lw.bq = Uniform(rng, h * d, 0.5f);
      lw.bk = Uniform(rng, nk * d, 0.5f);
      lw.bv = Uniform(rng, g * d, 0.5f);
    }
    if (c.output_bias) lw.bo = Uniform(rng, D, 0.5f);
    if (c.mlp_bias) {
      lw.b1 = Uniform(rng, F, 0.5f);
      lw.b3 = Uniform(rng, F, 0.5f);
      lw.b2 = Uniform(rng, D, 0.5f);
    }
    if (c.qk_norm) {
      lw.q_norm = norm(d);
      lw.k_norm = norm(d);
    }
    if (proj) {
      const int64_t t = nk / g;
      lw.key_cache_proj = Uniform(rng, g * d * t * d, 0.3f);
      lw.query_proj = Uniform(rng, h * d * d, 0.3f);
    }
    w.layers.push_back(std::move(lw));
  }
  w.rms_final = norm();
  w.wcls = matrix(c.vocab_size, D);
  return w;
}

// Unit roundoff of where a device keeps values: fp32 everywhere on the CPU;
// the CUDA ops store the GEMM inputs and the KV pages in fp16 (2^-11).
struct Precision {
  double fp32 = std::ldexp(1.0, -24);
  double stored = std::ldexp(1.0, -24);  // lowp activations (GEMM inputs)
  double kv = std::ldexp(1.0, -24);      // KV pages
  double weights = 0;                    // weights (exact fp32 here: 0)
};

struct DeviceUnderTest {
  std::unique_ptr<DeviceOps> ops;
  Precision precision;
};

constexpr int kBlockSize = 4;
constexpr int kNumBlocks = 24;

absl::StatusOr<DeviceUnderTest> MakeDevice(const std::string& device,
                                           ModelWeights weights) {
  BackendOptions options;
  options.block_size = kBlockSize;
  options.num_blocks = kNumBlocks;
  options.num_threads = 2;
  DeviceUnderTest out;
  if (device == "cpu") {
    auto ops = CreateCpuOps(std::move(weights), options);
    if (!ops.ok()) return ops.status();
    out.ops = std::move(*ops);
    return out;
  }
#if defined(HEADROOM_TEST_CUDA_OPS)
  options.dtype = LowPrecision::kFloat16;
  auto ops = CreateCudaOps(std::move(weights), options);
  if (!ops.ok()) return ops.status();
  out.ops = std::move(*ops);
  out.precision.stored = std::ldexp(1.0, -11);
  out.precision.kv = std::ldexp(1.0, -11);
  out.precision.weights = std::ldexp(1.0, -11);
  return out;
#else
  return absl::UnimplementedError(device + " ops are not in this build");
#endif
}

// |device - reference| allowed for a value computed from `terms` products
// (sum of |a_i b_i| = `magnitude`) and stored with unit roundoff `stored`:
// any summation order of n fp32 products is within gamma_n * sum|a_i b_i|
// (gamma_n = n u / (1 - n u), Higham, "Accuracy and Stability of Numerical
// Algorithms", 3.1), plus the rounding of the stored result. `extra_ulps`
// covers libm functions (exp, sqrt, sin, cos: a few ulp each).
double Bound(int64_t terms, double magnitude, double reference,
             const Precision& p, double stored, double extra_ulps = 0) {
  const double nu = static_cast<double>(terms + 2) * p.fp32;
  return nu / (1 - nu) * magnitude +
         (stored + extra_ulps * p.fp32) * std::abs(reference) + 1e-30;
}

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want,
                const std::vector<double>& bound, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::abs(got[i] - want[i]) <= bound[i]) continue;
    ADD_FAILURE() << what << "[" << i << "] = " << got[i] << ", reference "
                  << want[i] << ", bound " << bound[i];
    if (++reported == 5) return;
  }
}

// Rows x in (ldx) times W (rows n, cols k)^T in double: values and sum|.|.
void Linear(const std::vector<float>& x, int64_t rows, int64_t k,
            const Tensor& w, std::vector<double>* out,
            std::vector<double>* magnitude) {
  const std::vector<float> wf = w.ToFloat();
  const int64_t n = w.rows();
  out->assign(rows * n, 0.0);
  magnitude->assign(rows * n, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0, mag = 0;
      for (int64_t i = 0; i < k; ++i) {
        const double term = double{x[r * k + i]} * wf[j * k + i];
        sum += term;
        mag += std::abs(term);
      }
      (*out)[r * n + j] = sum;
      (*magnitude)[r * n + j] = mag;
    }
  }
}

class DeviceOpsTest : public ::testing::TestWithParam<OpsShape> {
 protected:
  // Runs the ops of one whole step (no checks), recording each layer's
  // cached keys and values per (sequence, position).
  void RunStep(DeviceOps& ops, const Batch& batch) {
    ASSERT_TRUE(ops.BeginStep(batch).ok());
    ASSERT_TRUE(ops.Embed().ok());
    for (int l = 0; l < config_.n_layers; ++l) {
      ASSERT_TRUE(ops.RmsNorm(l, LayerNorm::kAttention).ok());
      ASSERT_TRUE(ops.ProjectQkv(l).ok());
      if (config_.qkv_bias) {
        for (Bias b : {Bias::kQuery, Bias::kKey, Bias::kValue}) {
          ASSERT_TRUE(ops.AddBias(l, b).ok());
        }
      }
      if (config_.qk_norm) {
        ASSERT_TRUE(ops.QkNorm(l).ok());
      }
      ASSERT_TRUE(ops.Rope(l).ok());
      if (ops.has_post_rope_proj(l)) {
        ASSERT_TRUE(ops.ProjectPostRope(l).ok());
      }
      RecordCache(ops, l, batch);
      ASSERT_TRUE(ops.WriteKvCache(l).ok());
      ASSERT_TRUE(ops.Attention(l).ok());
      ASSERT_TRUE(ops.ProjectOutput(l).ok());
      if (config_.output_bias) {
        ASSERT_TRUE(ops.AddBias(l, Bias::kOutput).ok());
      }
      ASSERT_TRUE(ops.RmsNorm(l, LayerNorm::kFeedForward).ok());
      ASSERT_TRUE(ops.ProjectGateUp(l).ok());
      if (config_.mlp_bias) {
        ASSERT_TRUE(ops.AddBias(l, Bias::kGate).ok());
        ASSERT_TRUE(ops.AddBias(l, Bias::kUp).ok());
      }
      ASSERT_TRUE(ops.SiluMul().ok());
      ASSERT_TRUE(ops.ProjectDown(l).ok());
      if (config_.mlp_bias) {
        ASSERT_TRUE(ops.AddBias(l, Bias::kDown).ok());
      }
    }
    std::vector<float> logits;
    ASSERT_TRUE(ops.FinishStep(&logits).ok());
  }

  void RecordCache(DeviceOps& ops, int l, const Batch& batch) {
    const Activation k = ops.has_post_rope_proj(l) ? Activation::kKeysProjected
                                                   : Activation::kKeys;
    auto keys = ops.Read(k, l);
    auto values = ops.Read(Activation::kValues, l);
    ASSERT_TRUE(keys.ok() && values.ok());
    const int64_t row = int64_t{config_.CacheKvHeads(l)} * config_.head_dim;
    for (int t = 0; t < batch.num_tokens(); ++t) {
      auto& slot = cache_[l][batch.seq_ids[t]];
      const size_t pos = batch.positions[t];
      if (slot.size() <= pos) slot.resize(pos + 1);
      slot[pos].keys.assign(keys->begin() + t * row,
                            keys->begin() + (t + 1) * row);
      slot[pos].values.assign(values->begin() + t * row,
                              values->begin() + (t + 1) * row);
    }
  }

  // Reads `a` of layer `l`, failing the test on error.
  std::vector<float> Get(DeviceOps& ops, Activation a, int l) {
    auto v = ops.Read(a, l);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? std::move(*v) : std::vector<float>();
  }

  // kResidual -> kNormed (or kOutputRows for the final norm).
  void CheckRmsNorm(const std::vector<float>& x, const std::vector<int>& rows,
                    const std::vector<float>& weight,
                    const std::vector<float>& got, const Precision& p,
                    const std::string& what) {
    const int64_t D = config_.dim;
    std::vector<double> want, bound;
    for (int r : rows) {
      double ss = 0;
      for (int64_t i = 0; i < D; ++i) ss += double{x[r * D + i]} * x[r * D + i];
      const double inv = 1.0 / std::sqrt(ss / D + config_.norm_eps);
      for (int64_t i = 0; i < D; ++i) {
        const double ref = weight[i] * (x[r * D + i] * inv);
        want.push_back(ref);
        // The sum of squares has only positive terms: relative error
        // gamma_D; sqrt, division and two products add a few ulp.
        bound.push_back(Bound(D, std::abs(ref), ref, p, p.stored, 6));
      }
    }
    ExpectNear(got, want, bound, what);
  }

  // y (+ x when accumulating) = in W^T.
  void CheckLinear(const std::vector<float>& in, int64_t rows, const Tensor& w,
                   const std::vector<float>* residual,
                   const std::vector<float>& got, const Precision& p,
                   const std::string& what) {
    std::vector<double> want, mag;
    Linear(in, rows, w.cols(), w, &want, &mag);
    std::vector<double> bound(want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      double m = mag[i];
      if (residual != nullptr) {
        want[i] += (*residual)[i];
        m += std::abs((*residual)[i]);
      }
      bound[i] = Bound(w.cols() + 1, m, want[i], p, 0) + p.weights * mag[i];
    }
    ExpectNear(got, want, bound, what);
  }

  // AddBias(bias) on activation `a`: each row + the bias vector, one fp32
  // addition per value.
  void CheckBias(DeviceOps& ops, int l, Bias bias, Activation a,
                 const std::vector<float>& b, const Precision& p,
                 const std::string& what) {
    const std::vector<float> before = Get(ops, a, l);
    ASSERT_TRUE(ops.AddBias(l, bias).ok()) << what;
    std::vector<double> want(before.size()), bound(before.size());
    for (size_t i = 0; i < before.size(); ++i) {
      want[i] = double{before[i]} + b[i % b.size()];
      bound[i] =
          p.fp32 * (std::abs(want[i]) + std::abs(b[i % b.size()])) + 1e-30;
    }
    ExpectNear(Get(ops, a, l), want, bound, what);
  }

  // QkNorm: each head of `before` RMS-normed with `weight`.
  void CheckHeadNorm(const std::vector<float>& before,
                     const std::vector<float>& weight,
                     const std::vector<float>& got, const Precision& p,
                     const std::string& what) {
    const int d = config_.head_dim;
    std::vector<double> want(before.size()), bound(before.size());
    for (size_t at = 0; at < before.size(); at += d) {
      double ss = 0;
      for (int i = 0; i < d; ++i) ss += double{before[at + i]} * before[at + i];
      const double inv = 1.0 / std::sqrt(ss / d + config_.norm_eps);
      for (int i = 0; i < d; ++i) {
        want[at + i] = weight[i] * (before[at + i] * inv);
        bound[at + i] = Bound(d, std::abs(want[at + i]), want[at + i], p, 0, 6);
      }
    }
    ExpectNear(got, want, bound, what);
  }

  // Rotation of `heads` heads of each row by the token's position.
  void CheckRope(const std::vector<float>& before, const Batch& b, int heads,
                 const std::vector<float>& got, const Precision& p,
                 const std::string& what) {
    const int d = config_.head_dim;
    std::vector<double> want(before.begin(), before.end());
    std::vector<double> bound(before.size(), 0.0);
    for (int t = 0; t < b.num_tokens(); ++t) {
      for (int head = 0; head < heads; ++head) {
        const int64_t base = (int64_t{t} * heads + head) * d;
        for (int q = 0; q < d / 2; ++q) {
          const double angle =
              b.positions[t] *
              std::pow(double{config_.rope_theta}, -2.0 * q / d);
          const auto [ia, ib] = RopePair(config_.rope_style, d, q);
          const double a = before[base + ia], c = before[base + ib];
          want[base + ia] = a * std::cos(angle) - c * std::sin(angle);
          want[base + ib] = a * std::sin(angle) + c * std::cos(angle);
          // The device's angle is pos * theta^(-2q/d) in fp32 (a few ulp of
          // the angle) and its sin, cos and products a few ulp more.
          const double err =
              16 * p.fp32 * (1 + angle) * (std::abs(a) + std::abs(c));
          bound[base + ia] = bound[base + ib] = err + 1e-30;
        }
      }
    }
    ExpectNear(got, want, bound, what);
  }

  // k~_i = P_K,i [k_it..] and q~_j = Q_j q_j.
  void CheckPostRope(DeviceOps& ops, int l, int tokens,
                     const std::vector<float>& q, const std::vector<float>& k,
                     const LayerWeights& lw, const Precision& p) {
    const int d = config_.head_dim, h = config_.n_heads;
    const int nk = config_.n_kv_heads, g = config_.CacheKvHeads(l);
    const int td = nk / g * d;
    auto project = [&](const std::vector<float>& in, int64_t in_width,
                       const std::vector<float>& m, int groups, int k_len) {
      std::vector<double> want, bound;
      for (int t = 0; t < tokens; ++t) {
        for (int i = 0; i < groups; ++i) {
          for (int r = 0; r < d; ++r) {
            double sum = 0, mag = 0;
            for (int c = 0; c < k_len; ++c) {
              const double term = double{m[(int64_t{i} * d + r) * k_len + c]} *
                                  in[t * in_width + int64_t{i} * k_len + c];
              sum += term;
              mag += std::abs(term);
            }
            want.push_back(sum);
            bound.push_back(Bound(k_len, mag, sum, p, 0));
          }
        }
      }
      return std::pair{want, bound};
    };
    auto [kw, kb] = project(k, int64_t{nk} * d, lw.key_cache_proj, g, td);
    ExpectNear(Get(ops, Activation::kKeysProjected, l), kw, kb,
               "keys_projected");
    auto [qw, qb] = project(q, int64_t{h} * d, lw.query_proj, h, d);
    ExpectNear(Get(ops, Activation::kQueriesProjected, l), qw, qb,
               "queries_projected");
  }

  // Causal attention of each query head over its sequence's recorded
  // keys and values (both steps').
  void CheckAttention(const Batch& b, int l, const std::vector<float>& q,
                      const std::vector<float>& got, const Precision& p) {
    const int d = config_.head_dim, h = config_.n_heads;
    const int g = config_.CacheKvHeads(l), group = h / g;
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    std::vector<double> want(got.size()), bound(got.size());
    for (int t = 0; t < b.num_tokens(); ++t) {
      const auto& rows = cache_[l][b.seq_ids[t]];
      // Positions first .. pos: the sliding window's, or all.
      const int pos_t = b.positions[t];
      const int first = config_.sliding_window > 0
                            ? std::max(0, pos_t - config_.sliding_window + 1)
                            : 0;
      const int len = pos_t - first + 1;
      for (int j = 0; j < h; ++j) {
        const int kv = j / group;
        const float* qj = q.data() + (int64_t{t} * h + j) * d;
        std::vector<double> score(len);
        double s_max = -1e300, s_mag = 0, v_max = 0;
        for (int i_pos = 0; i_pos < len; ++i_pos) {
          const int pos = first + i_pos;
          const float* kp = rows[pos].keys.data() + int64_t{kv} * d;
          double sum = 0, mag = 0;
          for (int i = 0; i < d; ++i) {
            sum += double{qj[i]} * kp[i];
            mag += std::abs(double{qj[i]} * kp[i]);
          }
          score[i_pos] = sum * scale;
          s_max = std::max(s_max, score[i_pos]);
          s_mag = std::max(s_mag, mag * scale);
          for (int i = 0; i < d; ++i) {
            v_max = std::max(
                v_max, double{std::abs(rows[pos].values[int64_t{kv} * d + i])});
          }
        }
        double total = 0;
        for (double& s : score) total += (s = std::exp(s - s_max));
        // A score off by e moves its weight by a factor exp(e) ~ 1 + e, so
        // the output moves by at most 2e max|v|; keys rounded to the pages'
        // type move scores by kv * sum|q k|, values by kv * |v|.
        const double e = (Bound(d, s_mag, 0, p, 0) + p.kv * s_mag) + 8 * p.fp32;
        const double err =
            (2 * e + static_cast<double>(len + 4) * p.fp32 + p.kv) * v_max;
        for (int i = 0; i < d; ++i) {
          double out = 0;
          for (int i_pos = 0; i_pos < len; ++i_pos) {
            out += score[i_pos] / total *
                   rows[first + i_pos].values[int64_t{kv} * d + i];
          }
          const int64_t at = (int64_t{t} * h + j) * d + i;
          want[at] = out;
          bound[at] = err + p.stored * std::abs(out);
        }
      }
    }
    ExpectNear(got, want, bound, "attention");
  }

  void CheckStep(DeviceOps& ops, const Batch& b, const ModelWeights& w,
                 const Precision& p) {
    const ModelConfig& c = config_;
    const int T = b.num_tokens();
    const int64_t D = c.dim, d = c.head_dim, h = c.n_heads, F = c.hidden_dim;
    std::vector<int> all(T);
    std::iota(all.begin(), all.end(), 0);
    ASSERT_TRUE(ops.BeginStep(b).ok());
    ASSERT_TRUE(ops.Embed().ok());
    {
      const std::vector<float> emb = w.token_embedding.ToFloat();
      std::vector<double> want, bound;
      for (int t = 0; t < T; ++t) {
        for (int64_t i = 0; i < D; ++i) {
          want.push_back(emb[b.token_ids[t] * D + i]);
          bound.push_back(p.weights * std::abs(want.back()) + 1e-30);
        }
      }
      ExpectNear(Get(ops, Activation::kResidual, 0), want, bound, "embed");
    }
    for (int l = 0; l < c.n_layers; ++l) {
      SCOPED_TRACE("layer " + std::to_string(l));
      const LayerWeights& lw = w.layers[l];
      const bool proj = ops.has_post_rope_proj(l);
      ASSERT_EQ(proj, lw.has_post_rope_proj());
      std::vector<float> x = Get(ops, Activation::kResidual, l);
      ASSERT_TRUE(ops.RmsNorm(l, LayerNorm::kAttention).ok());
      std::vector<float> normed = Get(ops, Activation::kNormed, l);
      CheckRmsNorm(x, all, lw.rms_att, normed, p, "rms_att");

      ASSERT_TRUE(ops.ProjectQkv(l).ok());
      std::vector<float> q = Get(ops, Activation::kQueries, l);
      std::vector<float> k = Get(ops, Activation::kKeys, l);
      CheckLinear(normed, T, lw.wq, nullptr, q, p, "queries");
      CheckLinear(normed, T, lw.wk, nullptr, k, p, "keys");
      CheckLinear(normed, T, lw.wv, nullptr, Get(ops, Activation::kValues, l),
                  p, "values");

      if (c.qkv_bias) {
        CheckBias(ops, l, Bias::kQuery, Activation::kQueries, lw.bq, p, "bq");
        CheckBias(ops, l, Bias::kKey, Activation::kKeys, lw.bk, p, "bk");
        CheckBias(ops, l, Bias::kValue, Activation::kValues, lw.bv, p, "bv");
        q = Get(ops, Activation::kQueries, l);
        k = Get(ops, Activation::kKeys, l);
      }
      if (c.qk_norm) {
        ASSERT_TRUE(ops.QkNorm(l).ok());
        const std::vector<float> q_normed = Get(ops, Activation::kQueries, l);
        const std::vector<float> k_normed = Get(ops, Activation::kKeys, l);
        CheckHeadNorm(q, lw.q_norm, q_normed, p, "q_norm");
        CheckHeadNorm(k, lw.k_norm, k_normed, p, "k_norm");
        q = q_normed;
        k = k_normed;
      }
      ASSERT_TRUE(ops.Rope(l).ok());
      const std::vector<float> q_rot = Get(ops, Activation::kQueries, l);
      const std::vector<float> k_rot = Get(ops, Activation::kKeys, l);
      CheckRope(q, b, static_cast<int>(h), q_rot, p, "rope(queries)");
      CheckRope(k, b, static_cast<int>(lw.wk.rows() / d), k_rot, p,
                "rope(keys)");
      if (proj) {
        ASSERT_TRUE(ops.ProjectPostRope(l).ok());
        CheckPostRope(ops, l, T, q_rot, k_rot, lw, p);
      }
      RecordCache(ops, l, b);
      ASSERT_TRUE(ops.WriteKvCache(l).ok());
      ASSERT_TRUE(ops.Attention(l).ok());
      const std::vector<float> att = Get(ops, Activation::kAttention, l);
      CheckAttention(b, l,
                     proj ? Get(ops, Activation::kQueriesProjected, l) : q_rot,
                     att, p);

      x = Get(ops, Activation::kResidual, l);
      ASSERT_TRUE(ops.ProjectOutput(l).ok());
      std::vector<float> x_after = Get(ops, Activation::kResidual, l);
      CheckLinear(att, T, lw.wo, &x, x_after, p, "attention output");
      if (c.output_bias) {
        CheckBias(ops, l, Bias::kOutput, Activation::kResidual, lw.bo, p, "bo");
        x_after = Get(ops, Activation::kResidual, l);
      }

      ASSERT_TRUE(ops.RmsNorm(l, LayerNorm::kFeedForward).ok());
      normed = Get(ops, Activation::kNormed, l);
      CheckRmsNorm(x_after, all, lw.rms_ffn, normed, p, "rms_ffn");
      ASSERT_TRUE(ops.ProjectGateUp(l).ok());
      std::vector<float> gate = Get(ops, Activation::kGate, l);
      std::vector<float> up = Get(ops, Activation::kUp, l);
      CheckLinear(normed, T, lw.w1, nullptr, gate, p, "gate");
      CheckLinear(normed, T, lw.w3, nullptr, up, p, "up");
      if (c.mlp_bias) {
        CheckBias(ops, l, Bias::kGate, Activation::kGate, lw.b1, p, "b1");
        CheckBias(ops, l, Bias::kUp, Activation::kUp, lw.b3, p, "b3");
        gate = Get(ops, Activation::kGate, l);
        up = Get(ops, Activation::kUp, l);
      }
      ASSERT_TRUE(ops.SiluMul().ok());
      const std::vector<float> hidden = Get(ops, Activation::kHidden, l);
      {
        std::vector<double> want(gate.size()), bound(gate.size());
        for (size_t i = 0; i < gate.size(); ++i) {
          const double gi = gate[i];
          want[i] = gi / (1 + std::exp(-gi)) * up[i];
          bound[i] = (p.stored + 8 * p.fp32) * std::abs(want[i]) + 1e-30;
        }
        ExpectNear(hidden, want, bound, "silu_mul");
      }
      ASSERT_TRUE(ops.ProjectDown(l).ok());
      CheckLinear(hidden, T, lw.w2, &x_after,
                  Get(ops, Activation::kResidual, l), p, "ffn output");
      if (c.mlp_bias) {
        CheckBias(ops, l, Bias::kDown, Activation::kResidual, lw.b2, p, "b2");
      }
      ASSERT_EQ(F, lw.w2.cols());
    }
    const std::vector<float> x = Get(ops, Activation::kResidual, 0);
    std::vector<int> out_rows;
    for (int t = 0; t < T; ++t) {
      if (b.want_logits[t]) out_rows.push_back(t);
    }
    ASSERT_TRUE(ops.FinalNorm().ok());
    const std::vector<float> rows = Get(ops, Activation::kOutputRows, 0);
    CheckRmsNorm(x, out_rows, w.rms_final, rows, p, "final norm");
    ASSERT_TRUE(ops.ComputeLogits().ok());
    std::vector<float> logits;
    ASSERT_TRUE(ops.FinishStep(&logits).ok());
    CheckLinear(rows, static_cast<int64_t>(out_rows.size()), w.wcls, nullptr,
                logits, p, "logits");
  }

  struct CachedRow {
    std::vector<float> keys, values;
  };
  ModelConfig config_;
  // [layer][sequence][position]
  std::vector<std::vector<std::vector<CachedRow>>> cache_;
};

// Two steps over three sequences: a prefill of odd lengths, then a mix of
// decode tokens and a prefill chunk that attend to the first step's cache.
TEST_P(DeviceOpsTest, EveryOpMatchesTheScalarReference) {
  const OpsShape shape = GetParam();
  config_ = ConfigOf(shape);
  ASSERT_TRUE(config_.Validate().ok()) << config_.Validate();
  for (const std::string device : {"cpu", "cuda"}) {
    SCOPED_TRACE(device);
#if !defined(HEADROOM_TEST_CUDA_OPS)
    if (device == "cuda") continue;
#endif
    const ModelWeights weights = RandomWeights(config_, 7);
    auto made = MakeDevice(device, weights);
    if (device == "cuda" && !made.ok() &&
        made.status().code() == absl::StatusCode::kFailedPrecondition) {
      GTEST_SKIP() << "no CUDA device: " << made.status();
    }
    ASSERT_TRUE(made.ok()) << made.status();
    DeviceOps& ops = *made->ops;
    const Precision& p = made->precision;
    cache_.assign(config_.n_layers, std::vector<std::vector<CachedRow>>(3));

    // Pages shuffled so that no sequence's pages are contiguous.
    std::vector<int> pages(kNumBlocks);
    std::iota(pages.begin(), pages.end(), 0);
    std::shuffle(pages.begin(), pages.end(), std::mt19937(3));
    Batch first;
    first.block_tables = {{pages[0], pages[5], pages[9]},
                          {pages[1], pages[6], pages[10], pages[13], pages[15]},
                          {pages[2], pages[7]}};
    const std::vector<int> ids0 = {3, 1, 4, 1, 5}, ids1(17, 9),
                           ids2 = {2, 7, 1};
    first.AddTokens(0, ids0.data(), 5, 0, true);
    first.AddTokens(1, ids1.data(), 17, 0, false);
    first.AddTokens(2, ids2.data(), 3, 0, true);
    ASSERT_TRUE(first.Validate(config_, kBlockSize, kNumBlocks).ok());
    RunStep(ops, first);

    Batch second;
    second.block_tables = first.block_tables;
    const std::vector<int> next0 = {8, 2}, next1 = {6}, next2 = {0, 5, 3, 2};
    second.AddTokens(0, next0.data(), 2, 5, true, /*logits_for_all=*/true);
    second.AddTokens(1, next1.data(), 1, 17, true);
    second.AddTokens(2, next2.data(), 4, 3, false);
    ASSERT_TRUE(second.Validate(config_, kBlockSize, kNumBlocks).ok());
    CheckStep(ops, second, weights, p);
    if (HasFatalFailure()) return;
  }
}

// GQA groups h/g of 1, 2, 3, 4, 6 and 8 (layer 1: SVD-a to fewer heads),
// head sizes 8 to 256, odd model and FFN widths; biases, per-head norms and
// sliding windows (1: a token sees only itself).
INSTANTIATE_TEST_SUITE_P(
    Shapes, DeviceOpsTest,
    ::testing::Values(
        OpsShape{8, 8, 4, 8, 72, 100}, OpsShape{8, 4, 2, 16, 72, 100},
        OpsShape{6, 2, 1, 24, 40, 57}, OpsShape{8, 2, 1, 32, 96, 130},
        OpsShape{4, 4, 2, 64, 48, 33}, OpsShape{2, 2, 1, 256, 64, 24},
        // Qwen2/LLaMA biases, Qwen3 norms, Mistral windows.
        OpsShape{8, 4, 2, 16, 72, 100, true, true, 5},
        OpsShape{6, 2, 1, 24, 40, 57, true, false, 3},
        OpsShape{4, 2, 1, 32, 64, 48, false, true, 1}),
    ShapeName);

TEST(DeviceOpsErrorsTest, ReadAndWriteCheckTheActivationSize) {
  const ModelConfig c = ConfigOf(OpsShape{});
  auto made = MakeDevice("cpu", RandomWeights(c, 1));
  ASSERT_TRUE(made.ok()) << made.status();
  DeviceOps& ops = *made->ops;
  Batch b;
  b.block_tables = {{0, 1}};
  const std::vector<int> ids = {1, 2, 3};
  b.AddTokens(0, ids.data(), 3, 0, true);
  ASSERT_TRUE(ops.BeginStep(b).ok());
  const absl::Status s =
      ops.Write(Activation::kQueries, 0, std::vector<float>(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("queries"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("got 5"));
  // A written activation reads back as written.
  std::vector<float> values(3 * c.dim);
  std::iota(values.begin(), values.end(), 0.5f);
  ASSERT_TRUE(ops.Write(Activation::kResidual, 0, values).ok());
  auto read = ops.Read(Activation::kResidual, 0);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, values);
}

}  // namespace
}  // namespace headroom::runtime
