#include "runtime/model/decoder.h"

#include <chrono>
#include <utility>

#include "runtime/util/status_macros.h"

namespace headroom::runtime {
namespace {

// Adds the time from construction to destruction to `*sink` (nullptr: off).
class ScopedTimer {
 public:
  explicit ScopedTimer(double* sink)
      : sink_(sink), start_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer() {
    if (sink_ == nullptr) return;
    *sink_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
            .count();
  }

 private:
  double* sink_;
  std::chrono::steady_clock::time_point start_;
};

class Decoder final : public Backend {
 public:
  explicit Decoder(std::unique_ptr<DeviceOps> ops) : ops_(std::move(ops)) {}

  const ModelConfig& config() const override { return ops_->config(); }
  std::string name() const override { return ops_->device(); }
  int block_size() const override { return ops_->block_size(); }
  int num_blocks() const override { return ops_->num_blocks(); }
  int64_t kv_cache_bytes() const override { return ops_->kv_cache_bytes(); }

  absl::Status Forward(const Batch& batch, std::vector<float>* logits) override;

  // Only synchronous devices are timed (an asynchronous op returns before
  // its work is done).
  ForwardProfile profile() const override { return profile_; }
  void ResetProfile() override { profile_ = {}; }
  // Devices whose activations the host cannot read in place copy them out
  // for the observer (slow; for calibration and debugging).
  absl::Status SetObserver(ForwardObserver* observer) override {
    observer_ = observer;
    return absl::OkStatus();
  }

 private:
  absl::Status Layer(int layer, const Batch& batch);
  absl::Status Observe(int layer, const Batch& batch);
  // Timer sinks, nullptr when the device is asynchronous.
  double* gemm_time() {
    return ops_->synchronous() ? &profile_.gemm_seconds : nullptr;
  }
  double* attention_time() {
    return ops_->synchronous() ? &profile_.attention_seconds : nullptr;
  }

  std::unique_ptr<DeviceOps> ops_;
  ForwardObserver* observer_ = nullptr;
  ForwardProfile profile_;
};

absl::Status Decoder::Observe(int layer, const Batch& batch) {
  const ModelConfig& c = config();
  std::vector<float> copies[4];
  const float* views[4] = {};
  const Activation observed[4] = {Activation::kNormed, Activation::kQueries,
                                  Activation::kKeys, Activation::kValues};
  for (int i = 0; i < 4; ++i) {
    views[i] = ops_->HostView(observed[i]);
    if (views[i] != nullptr) continue;
    auto read = ops_->Read(observed[i], layer);
    if (!read.ok()) return read.status();
    copies[i] = std::move(*read);
    views[i] = copies[i].data();
  }
  LayerActivations act;
  act.layer = layer;
  act.batch = &batch;
  act.num_tokens = batch.num_tokens();
  act.attn_input = views[0];
  act.queries = views[1];
  act.keys = views[2];
  act.values = views[3];
  act.key_heads =
      ops_->has_post_rope_proj(layer) ? c.n_kv_heads : c.CacheKvHeads(layer);
  act.value_heads = c.CacheKvHeads(layer);
  observer_->OnLayer(act);
  return absl::OkStatus();
}

absl::Status Decoder::Layer(int l, const Batch& batch) {
  LayerHooks hooks;
  hooks.gemm_seconds = gemm_time();
  hooks.attention_seconds = attention_time();
  if (observer_ != nullptr) {
    hooks.after_qkv = [this, l, &batch] { return Observe(l, batch); };
  }
  return RunLayer(*ops_, l, hooks);
}

}  // namespace

absl::Status RunLayer(DeviceOps& ops, int l, const LayerHooks& hooks) {
  const ModelConfig& c = ops.config();
  // Attention block: x += W_O attn(RoPE(q), RoPE(k), v) (+ b_O).
  HEADROOM_RETURN_IF_ERROR(ops.RmsNorm(l, LayerNorm::kAttention));
  {
    ScopedTimer timer(hooks.gemm_seconds);
    HEADROOM_RETURN_IF_ERROR(ComputeQueriesKeysValues(ops, l));
  }
  if (hooks.after_qkv) HEADROOM_RETURN_IF_ERROR(hooks.after_qkv());
  {
    ScopedTimer timer(hooks.attention_seconds);
    HEADROOM_RETURN_IF_ERROR(AttendOverCache(ops, l));
  }
  {
    ScopedTimer timer(hooks.gemm_seconds);
    HEADROOM_RETURN_IF_ERROR(ops.ProjectOutput(l));
  }
  if (c.output_bias) HEADROOM_RETURN_IF_ERROR(ops.AddBias(l, Bias::kOutput));
  // FFN block: x += W_2 (silu(W_1 xb + b_1) * (W_3 xb + b_3)) + b_2.
  HEADROOM_RETURN_IF_ERROR(ops.RmsNorm(l, LayerNorm::kFeedForward));
  ScopedTimer timer(hooks.gemm_seconds);
  HEADROOM_RETURN_IF_ERROR(ops.ProjectGateUp(l));
  if (c.mlp_bias) {
    HEADROOM_RETURN_IF_ERROR(ops.AddBias(l, Bias::kGate));
    HEADROOM_RETURN_IF_ERROR(ops.AddBias(l, Bias::kUp));
  }
  HEADROOM_RETURN_IF_ERROR(ops.SiluMul());
  HEADROOM_RETURN_IF_ERROR(ops.ProjectDown(l));
  if (c.mlp_bias) HEADROOM_RETURN_IF_ERROR(ops.AddBias(l, Bias::kDown));
  return absl::OkStatus();
}

// q = W_Q xb (+ b_Q), k = W_K xb (+ b_K), v = W_V xb (+ b_V); q and k
// RMS-normed per head in Qwen3; then both rotated.
absl::Status ComputeQueriesKeysValues(DeviceOps& ops, int l) {
  const ModelConfig& c = ops.config();
  HEADROOM_RETURN_IF_ERROR(ops.ProjectQkv(l));
  if (c.qkv_bias) {
    for (Bias b : {Bias::kQuery, Bias::kKey, Bias::kValue}) {
      HEADROOM_RETURN_IF_ERROR(ops.AddBias(l, b));
    }
  }
  if (c.qk_norm) HEADROOM_RETURN_IF_ERROR(ops.QkNorm(l));
  return ops.Rope(l);
}

// SVD-a on RoPE keys (docs/compression.md): k~_i = P_K,i [k_it; ...;
// k_it+t-1] and q~_j = Q_j q_j, both after the rotation.
absl::Status AttendOverCache(DeviceOps& ops, int l) {
  if (ops.has_post_rope_proj(l)) {
    HEADROOM_RETURN_IF_ERROR(ops.ProjectPostRope(l));
  }
  HEADROOM_RETURN_IF_ERROR(ops.WriteKvCache(l));
  return ops.Attention(l);
}

namespace {

absl::Status Decoder::Forward(const Batch& batch, std::vector<float>* logits) {
  const ModelConfig& c = config();
  HEADROOM_RETURN_IF_ERROR(
      batch.Validate(c, ops_->block_size(), ops_->num_blocks()));
  const auto step_start = std::chrono::steady_clock::now();
  const double accounted_before =
      profile_.gemm_seconds + profile_.attention_seconds;
  ++profile_.steps;
  profile_.tokens += batch.num_tokens();
  if (batch.num_tokens() == 0) {
    logits->clear();
    return absl::OkStatus();
  }
  HEADROOM_RETURN_IF_ERROR(ops_->BeginStep(batch));
  HEADROOM_RETURN_IF_ERROR(ops_->Embed());
  for (int l = 0; l < c.n_layers; ++l) {
    HEADROOM_RETURN_IF_ERROR(Layer(l, batch));
  }
  if (batch.num_outputs() > 0) {
    HEADROOM_RETURN_IF_ERROR(ops_->FinalNorm());
    ScopedTimer timer(gemm_time());
    HEADROOM_RETURN_IF_ERROR(ops_->ComputeLogits());
  }
  HEADROOM_RETURN_IF_ERROR(ops_->FinishStep(logits));
  if (ops_->synchronous()) {
    // Whatever the GEMM and attention timers did not see is "other".
    const double total = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - step_start)
                             .count();
    profile_.other_seconds +=
        total -
        (profile_.gemm_seconds + profile_.attention_seconds - accounted_before);
  }
  return absl::OkStatus();
}

}  // namespace

std::unique_ptr<Backend> CreateDecoder(std::unique_ptr<DeviceOps> ops) {
  return std::make_unique<Decoder>(std::move(ops));
}

}  // namespace headroom::runtime
