// CudaOps: the forward pass's ops on an NVIDIA GPU. Weights and KV pages in
// fp16 or bf16, the residual stream, Q/K/V and softmax in fp32, the inputs
// of the GEMMs (kNormed, kAttention, kHidden, kOutputRows) in the weights'
// type. W_Q, W_K, W_V are stacked into one [(h + nk + g) d, D] matrix and
// W_1, W_3 into [2F, D], so each is one cuBLAS GEMM; kQueries, kKeys and
// kValues are column ranges of its output. Each op is defined in the file
// named after it (rms_norm_cuda.cc, linear_cuda.cc, ...); this class holds
// their state. Ops queue work on one stream; FinishStep waits for it.
#ifndef HEADROOM_RUNTIME_CUDA_CUDA_OPS_H_
#define HEADROOM_RUNTIME_CUDA_CUDA_OPS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/backend.h"
#include "runtime/cuda/cuda_resources.h"
#include "runtime/cuda/kernels.h"
#include "runtime/model/model_weights.h"
#include "runtime/ops/device_ops.h"

namespace headroom::runtime::cuda {

inline constexpr int kLowpBytes = 2;  // fp16 and bf16

// One layer on the device.
struct DeviceLayer {
  int nk = 0;  // key heads W_K computes (n with post-RoPE projections)
  int g = 0;   // g_l, KV heads cached
  bool post_rope_proj = false;
  DeviceBuffer rms_att, wqkv, wo, rms_ffn, w13, w2;  // norms fp32, rest lowp
  DeviceBuffer key_cache_proj, query_proj;           // fp32, SVD-a only
  // fp32, allocated when the config has them (ModelConfig::qkv_bias, ...).
  DeviceBuffer bq, bk, bv, bo, b1, b3, b2, q_norm, k_norm;
  DeviceBuffer k_cache, v_cache;  // [blocks][g][block_size][d] lowp
};

// How the attention of layers with g KV heads runs this step: offsets into
// the uploaded step metadata (int32 units).
struct AttentionPlan {
  int64_t splits_offset = 0;  // [T] num_splits
  int64_t items_offset = 0;   // [num_items] AttentionWorkItem
  int num_items = 0;
  int max_splits = 0;
  int max_rows = 0;
};

// Where an activation lives this step: rows `stride` elements apart.
struct ActivationLayout {
  void* data = nullptr;
  bool lowp = false;  // fp16/bf16, else fp32
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0;
};

class CudaOps final : public DeviceOps {
 public:
  CudaOps(ModelConfig config, const BackendOptions& options);

  // Creates the stream and handle and allocates every weight and KV buffer;
  // post_rope_proj[l]: layer l keeps SVD-a's post-RoPE projections.
  absl::Status Allocate(const std::vector<bool>& post_rope_proj);
  // Uploads `w` (any host dtype) into the allocated buffers.
  absl::Status Upload(const ModelWeights& w);
  // Fills the allocated weights with uniform values, norms with 1.
  absl::Status FillRandom(uint64_t seed);

  std::string device() const override { return "cuda"; }
  const ModelConfig& config() const override { return config_; }
  int block_size() const override { return block_size_; }
  int num_blocks() const override { return num_blocks_; }
  int64_t kv_cache_bytes() const override { return kv_cache_bytes_; }
  bool synchronous() const override { return false; }
  bool has_post_rope_proj(int layer) const override {
    return layers_[layer].post_rope_proj;
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
  const float* HostView(Activation) const override { return nullptr; }

 private:
  // C[m, n] (ldc) = X[m, k] (ldx) W[n, k]^T (+ C when accumulate): X and W
  // lowp (W row-major (out, in)), C fp32.
  absl::Status Gemm(int m, int n, int k, const void* x, int ldx, const void* w,
                    float* c, int ldc, bool accumulate);
  absl::Status UploadFloat(const std::vector<float>& host, DeviceBuffer* dst);
  absl::Status UploadLowp(const std::vector<float>& host, DeviceBuffer* dst);
  int64_t QkvWidth(const DeviceLayer& layer) const {
    return int64_t{config_.n_heads + layer.nk + layer.g} * config_.head_dim;
  }
  // Builds the per-step metadata (host) and the attention plan per g.
  void PlanStep(const Batch& batch);
  absl::Status ReserveStepBuffers(int num_tokens, int num_outputs);
  ActivationLayout Layout(Activation activation, int layer) const;
  const int32_t* meta() const { return meta_dev_.as<int32_t>(); }

  ModelConfig config_;
  int block_size_;
  int num_blocks_;
  DType dtype_;
  int device_id_;
  int64_t kv_cache_bytes_ = 0;

  Stream stream_;
  CublasHandle cublas_;
  std::vector<DeviceLayer> layers_;
  DeviceBuffer embedding_, rms_final_, classifier_;  // classifier: untied only
  DeviceBuffer rope_inv_freq_;  // [d/2] theta^(-2p/d), fp32
  DeviceBuffer staging_;        // fp32 upload staging

  // Step state, grown on demand.
  int num_tokens_ = 0, num_outputs_ = 0;
  std::vector<int32_t> meta_;  // host copy of the step metadata
  int64_t ids_offset_ = 0, positions_offset_ = 0, slots_offset_ = 0,
          out_rows_offset_ = 0, tables_offset_ = 0;
  std::map<int, AttentionPlan> plans_;  // by g
  PinnedBuffer meta_host_, logits_host_;
  DeviceBuffer meta_dev_;
  DeviceBuffer x_, xb_, qkv_, q_proj_, k_proj_, att_, gate_up_, act_, partial_,
      out_x_, logits_dev_;
};

}  // namespace headroom::runtime::cuda

#endif  // HEADROOM_RUNTIME_CUDA_CUDA_OPS_H_
