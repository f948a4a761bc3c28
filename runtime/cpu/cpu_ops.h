// CpuOps: the forward pass's ops on the host, fp32 activations, weights in
// their stored dtype (runtime/cpu/matmul.h multiplies each directly), KV
// pages in fp32 (runtime/kv/kv_cache.h). Each op is defined in the file
// named after it (rms_norm_cpu.cc, linear_cpu.cc, rope_cpu.cc,
// kv_write_cpu.cc, attention_cpu.cc, ...); this class holds their state.
#ifndef HEADROOM_RUNTIME_CPU_CPU_OPS_H_
#define HEADROOM_RUNTIME_CPU_CPU_OPS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/kv/kv_cache.h"
#include "runtime/model/model_weights.h"
#include "runtime/ops/device_ops.h"
#include "runtime/util/thread_pool.h"

namespace headroom::runtime::cpu {

class CpuOps final : public DeviceOps {
 public:
  // `weights` validated by the caller.
  CpuOps(ModelWeights weights, std::unique_ptr<KvCache> cache, int threads);

  std::string device() const override { return "cpu"; }
  const ModelConfig& config() const override { return w_.config; }
  int block_size() const override { return cache_->block_size(); }
  int num_blocks() const override { return cache_->num_blocks(); }
  int64_t kv_cache_bytes() const override { return cache_->allocated_bytes(); }
  bool synchronous() const override { return true; }
  bool has_post_rope_proj(int layer) const override {
    return w_.layers[layer].has_post_rope_proj();
  }

  absl::Status BeginStep(const Batch& batch) override;
  absl::Status Embed() override;
  absl::Status RmsNorm(int layer, LayerNorm norm) override;
  absl::Status ProjectQkv(int layer) override;
  absl::Status AddBias(int layer, Bias bias) override;
  absl::Status QkNorm(int layer) override;
  absl::Status Rope(int layer) override;
  absl::Status ProjectPostRope(int layer) override;
  absl::Status WriteKvCache(int layer) override;
  absl::Status Attention(int layer) override;
  absl::Status ProjectOutput(int layer) override;
  absl::Status ProjectGateUp(int layer) override;
  absl::Status SiluMul() override;
  absl::Status ProjectDown(int layer) override;
  absl::Status FinalNorm() override;
  absl::Status ComputeLogits() override;
  absl::Status FinishStep(std::vector<float>* logits) override;

  absl::StatusOr<std::vector<float>> Read(Activation activation,
                                          int layer) override;
  absl::Status Write(Activation activation, int layer,
                     const std::vector<float>& values) override;
  const float* HostView(Activation activation) const override {
    return Buffer(activation).data();
  }

 private:
  // The fp32 buffer holding `activation` (rows packed, no padding).
  std::vector<float>& Buffer(Activation activation);
  const std::vector<float>& Buffer(Activation activation) const {
    return const_cast<CpuOps*>(this)->Buffer(activation);
  }
  int64_t Rows(Activation activation) const;
  int64_t Columns(Activation activation, int layer) const {
    return ActivationColumns(w_.config, activation, layer,
                             has_post_rope_proj(layer));
  }
  // Keys and queries attention reads in layer `layer`.
  const float* CachedKeys(int layer) const;
  const float* AttentionQueries(int layer) const;

  ModelWeights w_;
  std::unique_ptr<KvCache> cache_;
  ThreadPool pool_;
  std::vector<float> rope_inv_freq_;  // [d/2], runtime/model/rope.h
  const Batch* batch_ = nullptr;      // the current step's, not owned
  int num_tokens_ = 0;
  int num_outputs_ = 0;
  // Activations, sized at BeginStep for the widest layer.
  std::vector<float> residual_, normed_, queries_, keys_, values_,
      queries_projected_, keys_projected_, attention_, gate_, up_, output_rows_,
      logits_;
};

}  // namespace headroom::runtime::cpu

#endif  // HEADROOM_RUNTIME_CPU_CPU_OPS_H_
