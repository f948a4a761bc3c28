// DeviceOps: the operations of the LLaMA-family forward pass on one device,
// over that device's copy of the weights, its KV page pools and the
// activation buffers of the current step.
//
// The decoder (runtime/model/decoder.h) is the forward pass, written once:
// it calls these ops in order for every layer. Each device implements every
// op in a file named by op and device (runtime/cpu/rms_norm_cpu.cc,
// runtime/cuda/rms_norm_cuda.cc, ...), the layout CTranslate2 uses, so a
// model feature is one decoder change plus one op per device, and an op can
// be checked on one device against another (tests/unit/device_ops_test.cc).
//
// Ops read and write the step's activations, named by what they hold
// (Activation). The device chooses their storage: the CPU keeps each in its
// own fp32 buffer; CUDA keeps the GEMM inputs in fp16/bf16 and Q, K, V as
// column ranges of one fused buffer. Ops are asynchronous on devices that
// queue work; FinishStep waits for them.
#ifndef HEADROOM_RUNTIME_OPS_DEVICE_OPS_H_
#define HEADROOM_RUNTIME_OPS_DEVICE_OPS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/batch.h"
#include "runtime/model/model_config.h"

namespace headroom::runtime {

// The activations of one step. T = tokens of the step, D = dim, h = query
// heads, d = head_dim, nk = key heads W_K computes in the layer (n_kv_heads
// when the layer keeps SVD-a's post-RoPE projections, else g_l), g = g_l
// (KV heads cached), F = hidden_dim, n_out = tokens whose logits are wanted.
enum class Activation {
  kResidual,          // [T, D] the residual stream x (fp32 on every device)
  kNormed,            // [T, D] RMSNorm(x): the input of the next projection
  kQueries,           // [T, h*d] W_Q x, rotated in place by Rope
  kKeys,              // [T, nk*d] W_K x, rotated in place by Rope
  kValues,            // [T, g*d] W_V x
  kQueriesProjected,  // [T, h*d] q~ = Q_j q_j (SVD-a layers)
  kKeysProjected,     // [T, g*d] k~ = P_K,i [k_i...] (SVD-a layers)
  kAttention,         // [T, h*d] attention output per head
  kGate,              // [T, F] W_1 x
  kUp,                // [T, F] W_3 x
  kHidden,            // [T, F] silu(W_1 x) * W_3 x (may overwrite kGate)
  kOutputRows,        // [n_out, D] RMSNorm of the rows wanting logits
};
const char* ActivationName(Activation activation);

enum class LayerNorm { kAttention, kFeedForward };

// A layer's biases (ModelConfig::qkv_bias, output_bias, mlp_bias) and the
// activation each is added to.
enum class Bias {
  kQuery,   // b_Q -> kQueries
  kKey,     // b_K -> kKeys
  kValue,   // b_V -> kValues
  kOutput,  // b_O -> kResidual, after ProjectOutput
  kGate,    // b_1 -> kGate
  kUp,      // b_3 -> kUp
  kDown,    // b_2 -> kResidual, after ProjectDown
};
// The activation `bias` is added to.
Activation BiasTarget(Bias bias);

class DeviceOps {
 public:
  virtual ~DeviceOps() = default;

  virtual std::string device() const = 0;  // "cpu", "cuda"
  virtual const ModelConfig& config() const = 0;
  virtual int block_size() const = 0;
  virtual int num_blocks() const = 0;
  virtual int64_t kv_cache_bytes() const = 0;
  // True when ops finish before they return (so host timers measure them).
  virtual bool synchronous() const = 0;
  // True when layer `layer` keeps SVD-a's post-RoPE projections.
  virtual bool has_post_rope_proj(int layer) const = 0;

  // Sizes the step's activations for `batch` (validated by the caller, and
  // alive until FinishStep) and uploads its metadata.
  virtual absl::Status BeginStep(const Batch& batch) = 0;

  // kResidual = the embedding rows of the step's tokens.
  virtual absl::Status Embed() = 0;
  // kNormed = RMSNorm(kResidual) with layer `layer`'s `norm` weights.
  virtual absl::Status RmsNorm(int layer, LayerNorm norm) = 0;
  // kQueries, kKeys, kValues = kNormed W_Q^T, W_K^T, W_V^T.
  virtual absl::Status ProjectQkv(int layer) = 0;
  // Adds layer `layer`'s bias `bias` to every row of its activation.
  virtual absl::Status AddBias(int layer, Bias bias) = 0;
  // RMSNorm of every head of kQueries and kKeys with the layer's q_norm and
  // k_norm weights (Qwen3), before RoPE.
  virtual absl::Status QkNorm(int layer) = 0;
  // Rotates kQueries and kKeys by each token's position.
  virtual absl::Status Rope(int layer) = 0;
  // kQueriesProjected, kKeysProjected from kQueries, kKeys (SVD-a layers).
  virtual absl::Status ProjectPostRope(int layer) = 0;
  // Writes each token's keys (kKeysProjected in SVD-a layers, else kKeys)
  // and kValues into its page of layer `layer`.
  virtual absl::Status WriteKvCache(int layer) = 0;
  // kAttention = causal attention of the queries (kQueriesProjected in
  // SVD-a layers) over each sequence's cached positions 0..pos (the last
  // config().sliding_window of them when that is set).
  virtual absl::Status Attention(int layer) = 0;
  // kResidual += kAttention W_O^T.
  virtual absl::Status ProjectOutput(int layer) = 0;
  // kGate, kUp = kNormed W_1^T, W_3^T.
  virtual absl::Status ProjectGateUp(int layer) = 0;
  // kHidden = silu(kGate) * kUp.
  virtual absl::Status SiluMul() = 0;
  // kResidual += kHidden W_2^T.
  virtual absl::Status ProjectDown(int layer) = 0;
  // kOutputRows = RMSNorm(kResidual rows wanting logits), final norm.
  virtual absl::Status FinalNorm() = 0;
  // Logits of kOutputRows (classifier), kept on the device.
  virtual absl::Status ComputeLogits() = 0;
  // Waits for the step; `logits` receives [n_out, vocab] (n_out may be 0).
  virtual absl::Status FinishStep(std::vector<float>* logits) = 0;

  // For tests, calibration and debugging: an activation of the current step
  // as fp32 rows (`layer` sizes the per-layer ones), and its overwrite.
  virtual absl::StatusOr<std::vector<float>> Read(Activation activation,
                                                  int layer) = 0;
  virtual absl::Status Write(Activation activation, int layer,
                             const std::vector<float>& values) = 0;
  // The activation's fp32 rows in host memory, or nullptr on devices whose
  // buffers the host cannot read in place.
  virtual const float* HostView(Activation activation) const = 0;
};

// Columns of `activation` in layer `layer` of `config` (rows: the step's
// tokens, or n_out for kOutputRows). `post_rope_proj`: the layer keeps
// SVD-a's projections.
int64_t ActivationColumns(const ModelConfig& config, Activation activation,
                          int layer, bool post_rope_proj);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_OPS_DEVICE_OPS_H_
