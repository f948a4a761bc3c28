#include "runtime/cpu/cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cpu/matmul.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/util/thread_pool.h"

namespace headroom::runtime {
namespace {

// Activations of one step, resized to the batch (reused across steps).
struct StepBuffers {
  std::vector<float> x;       // [T, D] residual stream
  std::vector<float> xb;      // [T, D] normed input / projection output
  std::vector<float> q;       // [T, h*d] rotated queries
  std::vector<float> k;       // [T, nk*d] rotated keys as computed by W_K
  std::vector<float> v;       // [T, g*d]
  std::vector<float> q_proj;  // [T, h*d] q~ (SVD-a post-RoPE projection)
  std::vector<float> k_proj;  // [T, g*d] k~
  std::vector<float> att;     // [T, h*d] attention output per head
  std::vector<float> gate;    // [T, F]
  std::vector<float> up;      // [T, F]
  std::vector<float> out_x;   // [n_out, D] normed rows needing logits
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(ModelWeights weights, const BackendOptions& options,
             std::unique_ptr<KvCache> cache)
      : w_(std::move(weights)),
        cache_(std::move(cache)),
        pool_(std::max(1, options.num_threads)) {}

  const ModelConfig& config() const override { return w_.config; }
  std::string name() const override { return "cpu"; }
  int block_size() const override { return cache_->block_size(); }
  int num_blocks() const override { return cache_->num_blocks(); }
  int64_t kv_cache_bytes() const override { return cache_->allocated_bytes(); }

  absl::Status Forward(const Batch& batch, std::vector<float>* logits) override;
  ForwardProfile profile() const override { return profile_; }
  void ResetProfile() override { profile_ = {}; }
  absl::Status SetObserver(ForwardObserver* observer) override {
    observer_ = observer;
    return absl::OkStatus();
  }

 private:
  void Attention(int layer, const Batch& batch, const float* q, int q_stride);
  void WriteCache(int layer, const Batch& batch, const float* k,
                  const float* v);

  ModelWeights w_;
  std::unique_ptr<KvCache> cache_;
  ThreadPool pool_;
  StepBuffers buf_;
  ForwardObserver* observer_ = nullptr;
  ForwardProfile profile_;
};

// Adds the time from construction to destruction to `*sink`.
class ScopedTimer {
 public:
  explicit ScopedTimer(double* sink)
      : sink_(sink), start_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer() {
    *sink_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
            .count();
  }

 private:
  double* sink_;
  std::chrono::steady_clock::time_point start_;
};

void CpuBackend::WriteCache(int layer, const Batch& batch, const float* k,
                            const float* v) {
  const ModelConfig& c = w_.config;
  const int row = c.CacheKvHeads(layer) * c.head_dim;
  const int bs = cache_->block_size();
  for (int t = 0; t < batch.num_tokens(); ++t) {
    const int pos = batch.positions[t];
    const int block = batch.block_tables[batch.seq_ids[t]][pos / bs];
    const int64_t off = int64_t{pos % bs} * row;
    std::memcpy(cache_->Keys(layer, block) + off, k + int64_t{t} * row,
                row * sizeof(float));
    std::memcpy(cache_->Values(layer, block) + off, v + int64_t{t} * row,
                row * sizeof(float));
  }
}

// Scaled dot-product attention of every (token, query head) over the
// sequence's cached positions 0..pos, grouped as GQA shares the cache:
// query heads kv * t .. kv * t + t - 1 (t = h / g_l) read cache head kv, so
// each (token, cache head) reads its keys and values once for all t heads.
// The scores of a page are a MatMul of the t queries against the page's
// key rows (vectorized, the same recipe whatever the batch); the values
// are summed in position order. Nothing depends on the rest of the batch.
void CpuBackend::Attention(int layer, const Batch& batch, const float* q,
                           int q_stride) {
  const ModelConfig& c = w_.config;
  const int h = c.n_heads, d = c.head_dim, g = c.CacheKvHeads(layer);
  const int group = h / g;
  const int bs = cache_->block_size();
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int64_t row = int64_t{g} * d;  // one position's cache row
  const int64_t items = int64_t{batch.num_tokens()} * g;
  float* att = buf_.att.data();
  pool_.ParallelFor(items, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;  // [group][pos + 1]
    for (int64_t item = begin; item < end; ++item) {
      const int t = static_cast<int>(item / g);
      const int kv = static_cast<int>(item % g);
      const int pos = batch.positions[t];
      const int64_t len = pos + 1;
      const auto& table = batch.block_tables[batch.seq_ids[t]];
      const float* qg = q + int64_t{t} * q_stride + int64_t{kv} * group * d;
      scores.resize(group * len);
      for (int p0 = 0; p0 <= pos; p0 += bs) {
        const float* kb = cache_->Keys(layer, table[p0 / bs]) + int64_t{kv} * d;
        const int count = std::min(bs, pos + 1 - p0);
        cpu::MatMulOnThisThread(group, count, d, qg, d, kb, row,
                                scores.data() + p0, len);
      }
      for (int jj = 0; jj < group; ++jj) {
        float* sj = scores.data() + jj * len;
        for (int64_t i = 0; i < len; ++i) sj[i] *= scale;
        cpu::Softmax(sj, static_cast<int>(len));
      }
      float* out = att + int64_t{t} * h * d + int64_t{kv} * group * d;
      std::fill(out, out + int64_t{group} * d, 0.0f);
      for (int p0 = 0; p0 <= pos; p0 += bs) {
        const float* vb =
            cache_->Values(layer, table[p0 / bs]) + int64_t{kv} * d;
        const int count = std::min(bs, pos + 1 - p0);
        for (int r = 0; r < count; ++r) {
          for (int jj = 0; jj < group; ++jj) {
            cpu::Axpy(scores[jj * len + p0 + r], vb + r * row,
                      out + int64_t{jj} * d, d);
          }
        }
      }
    }
  });
}

absl::Status CpuBackend::Forward(const Batch& batch,
                                 std::vector<float>* logits) {
  const ModelConfig& c = w_.config;
  if (auto s = batch.Validate(c, cache_->block_size(), cache_->num_blocks());
      !s.ok())
    return s;
  const int T = batch.num_tokens();
  const int D = c.dim, d = c.head_dim, h = c.n_heads, F = c.hidden_dim;
  const int n_out = batch.num_outputs();
  const auto step_start = std::chrono::steady_clock::now();
  const double accounted_before =
      profile_.gemm_seconds + profile_.attention_seconds;
  ++profile_.steps;
  profile_.tokens += T;
  // Whatever the GEMM and attention timers did not see is "other".
  struct OtherTime {
    ForwardProfile& p;
    std::chrono::steady_clock::time_point start;
    double before;
    ~OtherTime() {
      const double total = std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - start)
                               .count();
      p.other_seconds +=
          total - (p.gemm_seconds + p.attention_seconds - before);
    }
  } other_time{profile_, step_start, accounted_before};
  logits->assign(int64_t{n_out} * c.vocab_size, 0.0f);
  if (T == 0) return absl::OkStatus();

  StepBuffers& b = buf_;
  b.x.resize(int64_t{T} * D);
  b.xb.resize(int64_t{T} * D);
  b.q.resize(int64_t{T} * h * d);
  b.att.resize(int64_t{T} * h * d);
  b.gate.resize(int64_t{T} * F);
  b.up.resize(int64_t{T} * F);

  for (int t = 0; t < T; ++t) {
    w_.token_embedding.RowToFloat(batch.token_ids[t],
                                  b.x.data() + int64_t{t} * D);
  }

  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& lw = w_.layers[l];
    const int g = c.CacheKvHeads(l);
    const bool proj = lw.has_post_rope_proj();
    const int nk = proj ? c.n_kv_heads : g;
    b.k.resize(int64_t{T} * nk * d);
    b.v.resize(int64_t{T} * g * d);

    // Attention block: x += W_O attn(RoPE(W_Q xb), RoPE(W_K xb), W_V xb).
    for (int t = 0; t < T; ++t) {
      cpu::RmsNorm(b.x.data() + int64_t{t} * D, lw.rms_att.data(), D,
                   c.norm_eps, b.xb.data() + int64_t{t} * D);
    }
    {
      ScopedTimer timer(&profile_.gemm_seconds);
      cpu::MatMul(pool_, T, b.xb.data(), D, lw.wq, b.q.data(), h * d);
      cpu::MatMul(pool_, T, b.xb.data(), D, lw.wk, b.k.data(), nk * d);
      cpu::MatMul(pool_, T, b.xb.data(), D, lw.wv, b.v.data(), g * d);
    }
    const float* q_att = b.q.data();
    const float* k_cache = b.k.data();
    {
      ScopedTimer timer(&profile_.attention_seconds);
      for (int t = 0; t < T; ++t) {
        cpu::ApplyRope(b.q.data() + int64_t{t} * h * d, h, d,
                       batch.positions[t], c.rope_theta, c.rope_style);
        cpu::ApplyRope(b.k.data() + int64_t{t} * nk * d, nk, d,
                       batch.positions[t], c.rope_theta, c.rope_style);
      }
      if (observer_ != nullptr) {
        LayerActivations act;
        act.layer = l;
        act.batch = &batch;
        act.num_tokens = T;
        act.attn_input = b.xb.data();
        act.queries = b.q.data();
        act.keys = b.k.data();
        act.key_heads = nk;
        act.values = b.v.data();
        act.value_heads = g;
        observer_->OnLayer(act);
      }
      if (proj) {
        // SVD-a on RoPE keys (method.md): k~_i = P_K,i [k_it; ...; k_it+t-1],
        // q~_j = Q_j q_j, both after the rotation.
        const int t_group = nk / g;
        b.k_proj.resize(int64_t{T} * g * d);
        b.q_proj.resize(int64_t{T} * h * d);
        for (int i = 0; i < g; ++i) {
          cpu::MatMul(pool_, T, d, t_group * d,
                      b.k.data() + int64_t{i} * t_group * d, nk * d,
                      lw.key_cache_proj.data() + int64_t{i} * d * t_group * d,
                      t_group * d, b.k_proj.data() + int64_t{i} * d, g * d);
        }
        for (int j = 0; j < h; ++j) {
          cpu::MatMul(pool_, T, d, d, b.q.data() + int64_t{j} * d, h * d,
                      lw.query_proj.data() + int64_t{j} * d * d, d,
                      b.q_proj.data() + int64_t{j} * d, h * d);
        }
        q_att = b.q_proj.data();
        k_cache = b.k_proj.data();
      }
      WriteCache(l, batch, k_cache, b.v.data());
      Attention(l, batch, q_att, h * d);
    }
    // x += att W_O^T
    {
      ScopedTimer timer(&profile_.gemm_seconds);
      cpu::MatMul(pool_, T, b.att.data(), h * d, lw.wo, b.x.data(), D,
                  /*accumulate=*/true);
    }

    // FFN block: x += W_2 (silu(W_1 xb) * W_3 xb).
    for (int t = 0; t < T; ++t) {
      cpu::RmsNorm(b.x.data() + int64_t{t} * D, lw.rms_ffn.data(), D,
                   c.norm_eps, b.xb.data() + int64_t{t} * D);
    }
    {
      ScopedTimer timer(&profile_.gemm_seconds);
      cpu::MatMul(pool_, T, b.xb.data(), D, lw.w1, b.gate.data(), F);
      cpu::MatMul(pool_, T, b.xb.data(), D, lw.w3, b.up.data(), F);
      cpu::SiluMul(b.gate.data(), b.up.data(), int64_t{T} * F);
      cpu::MatMul(pool_, T, b.gate.data(), F, lw.w2, b.x.data(), D,
                  /*accumulate=*/true);
    }
  }

  if (n_out == 0) return absl::OkStatus();
  b.out_x.resize(int64_t{n_out} * D);
  for (int t = 0, o = 0; t < T; ++t) {
    if (!batch.want_logits[t]) continue;
    cpu::RmsNorm(b.x.data() + int64_t{t} * D, w_.rms_final.data(), D,
                 c.norm_eps, b.out_x.data() + int64_t{o} * D);
    ++o;
  }
  {
    ScopedTimer timer(&profile_.gemm_seconds);
    cpu::MatMul(pool_, n_out, b.out_x.data(), D, w_.classifier(),
                logits->data(), c.vocab_size);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateCpuBackend(
    ModelWeights weights, const BackendOptions& options) {
  if (auto s = weights.Validate(); !s.ok()) return s;
  if (options.num_threads <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpu backend: num_threads must be positive, got ",
                     options.num_threads));
  }
  if (options.block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cpu backend: block_size must be positive, got ", options.block_size));
  }
  KvCacheOptions kv;
  kv.block_size = options.block_size;
  kv.num_blocks = options.num_blocks > 0
                      ? options.num_blocks
                      : BlocksForContext(weights.config, options.block_size);
  auto cache = KvCache::Create(weights.config, kv);
  if (!cache.ok()) return cache.status();
  openblas_set_num_threads(options.num_threads);
  return std::make_unique<CpuBackend>(std::move(weights), options,
                                      std::move(*cache));
}

}  // namespace headroom::runtime
