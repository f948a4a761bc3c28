// Host weights of a LLaMA-family decoder. Matrices are (out, in), row-major,
// as in llama2.c and Hugging Face checkpoints, each a Tensor in the served
// dtype (runtime/weights/tensor.h: viewed in place from an mmap'd checkpoint
// or owned); norms and the post-RoPE projections are small and fp32.
#ifndef HEADROOM_RUNTIME_MODEL_MODEL_WEIGHTS_H_
#define HEADROOM_RUNTIME_MODEL_MODEL_WEIGHTS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "runtime/model/model_config.h"
#include "runtime/weights/tensor.h"

namespace headroom::runtime {

struct LayerWeights {
  std::vector<float> rms_att;  // [D]
  Tensor wq;                   // [h*d, D]
  // [nk*d, D]: nk = n_kv_heads when key_cache_proj is set, else g_l.
  Tensor wk;
  Tensor wv;                   // [g_l*d, D]
  Tensor wo;                   // [D, h*d]
  std::vector<float> rms_ffn;  // [D]
  Tensor w1;                   // [hidden, D] (gate)
  Tensor w2;                   // [D, hidden] (down)
  Tensor w3;                   // [hidden, D] (up)

  // SVD-a on RoPE keys (method.md): post-RoPE projections kept at runtime.
  // Empty when the layer's key transformation is folded into wk / wq.
  // key_cache_proj: [g_l, d, t*d], t = n/g_l; cached head i is
  //   k~_i = P_K,i [RoPE(k_it); ...; RoPE(k_it+t-1)].
  std::vector<float> key_cache_proj;
  // query_proj: [h, d, d]; q~_j = Q_j RoPE(q_j) (Q_j = P_K,i,s for SVD-a).
  std::vector<float> query_proj;

  // Biases and per-head norms of the architectures that have them (empty
  // unless ModelConfig says so): b_Q [h*d], b_K [nk*d], b_V [g_l*d],
  // b_O [D], b_1 and b_3 [hidden], b_2 [D]; q_norm and k_norm [d], one
  // RMSNorm weight shared by every head.
  std::vector<float> bq, bk, bv, bo, b1, b2, b3;
  std::vector<float> q_norm, k_norm;

  bool has_post_rope_proj() const { return !key_cache_proj.empty(); }
  // The layer's fp32 vectors beside its matrices, with their names.
  using NamedVector = std::pair<const std::vector<float>*, const char*>;
  std::array<NamedVector, 13> Vectors() const {
    return {{{&rms_att, "rms_att"},
             {&rms_ffn, "rms_ffn"},
             {&key_cache_proj, "key_cache_proj"},
             {&query_proj, "query_proj"},
             {&bq, "bq"},
             {&bk, "bk"},
             {&bv, "bv"},
             {&bo, "bo"},
             {&b1, "b1"},
             {&b2, "b2"},
             {&b3, "b3"},
             {&q_norm, "q_norm"},
             {&k_norm, "k_norm"}}};
  }
};

struct ModelWeights {
  ModelConfig config;
  Tensor token_embedding;            // [vocab, D]
  std::vector<LayerWeights> layers;  // [n_layers]
  std::vector<float> rms_final;      // [D]
  Tensor wcls;  // [vocab, D]; empty when config.tied_embeddings

  // The classifier matrix (token_embedding when tied).
  const Tensor& classifier() const {
    return config.tied_embeddings ? token_embedding : wcls;
  }
  // Checks every tensor's shape against the config; names the tensor.
  absl::Status Validate() const;
  // Bytes of the weight matrices and vectors as stored.
  int64_t weight_bytes() const;
  // Number of weights (matrices and vectors).
  int64_t parameter_count() const;
  // The dtypes of the matrices, e.g. "bf16" or "q8_0 (2 tensors f16)".
  std::string DtypeSummary() const;
  // InvalidArgument naming the first tensor (layers.<l>.wq, ...) that holds
  // a NaN or an infinity, and the index and value of its first such value:
  // they would otherwise surface far away (LAPACK failing in calibration,
  // NaN logits). One pass over the weights.
  absl::Status CheckFinite() const;
};

// Index of the first NaN or infinity in `values`, or -1. Branch-free over
// blocks (vectorizes), so it costs about one read of the data.
int64_t FirstNonFinite(absl::Span<const float> values);

// OK, or InvalidArgument "tensor <name> has <value> at index <i>".
absl::Status CheckFiniteTensor(absl::Span<const float> values,
                               std::string_view name);
// The same for a Tensor of any dtype (widened row by row).
absl::Status CheckFiniteTensor(const Tensor& tensor, std::string_view name);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_MODEL_MODEL_WEIGHTS_H_
