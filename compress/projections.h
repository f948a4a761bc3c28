// Projections: the per-layer transformation that turns a model's n KV heads
// into g_l (method.md), as computed by a method and applied on load.
//
// For layer l with group size t = n / g_l, group i holds original KV heads
// it .. it+t-1; query head j reads original KV head s(j) = j / (h / n), block
// s = s(j) - i t of group i = s(j) / t. Per group and per query head:
//   keys:   k~_i = E_K,i [k_it; ...; k_it+t-1]       (encoder, d x t d)
//           q~_j = Q_j q_j                           (decoder^T, d x d)
//   values: v~_i = E_V,i [v_it; ...; v_it+t-1]
//           W~_O,j = W_O,j V_j                       (V_j, d x d)
// With key_mode kPreRope the key maps commute with RoPE and are folded into
// W_K and W_Q; with kPostRope they run after the rotation (SVD-a on RoPE
// keys). Values are always folded. `wo`, when set, replaces W~_O (refit).
#ifndef HEADROOM_COMPRESS_PROJECTIONS_H_
#define HEADROOM_COMPRESS_PROJECTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace headroom::compress {

enum class KeyMode { kPreRope, kPostRope };

const char* KeyModeName(KeyMode mode);

struct LayerProjection {
  std::string method;  // the method that produced this layer (auto mixes)
  int kv_heads = 0;    // g_l
  KeyMode key_mode = KeyMode::kPostRope;
  // Head regrouping: slot p holds original KV head kv_order[p] (the query
  // heads reading it move with it), applied before the maps below; empty
  // means contiguous groups (compress/head_order.h).
  std::vector<int> kv_order;
  std::vector<float> key_encoder;    // [g_l, d, t*d]
  std::vector<float> query_decoder;  // [h, d, d]
  std::vector<float> value_encoder;  // [g_l, d, t*d]
  std::vector<float> value_decoder;  // [h, d, d]
  std::vector<float> wo;             // [D, h*d] or empty
  // Fraction of the calibration energy (second moment) of the post-RoPE keys
  // and of the values that the reconstruction keeps: 1 - E|x - x^|^2/E|x|^2.
  double key_energy = 0.0;
  double value_energy = 0.0;
  // Relative error of the layer's attention output (after W_O) on held-back
  // calibration tokens: sum |y - y~|^2 / sum |y|^2; -1 when not measured.
  double output_error = -1.0;
};

// Format version of projection files; bump when the layout changes.
// Version 2 adds kv_order (head regrouping); a file without regrouping is
// written as version 1, which older builds read the same way.
inline constexpr int kProjectionsFormatVersion = 2;

struct Projections {
  std::string method;
  std::string model_digest;        // runtime::ModelDigest of the source model
  std::string calibration_digest;  // SHA-256 of the calibration text
  int64_t calibration_tokens = 0;
  // Shape of the source model (checked at load).
  int n_layers = 0, dim = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  std::vector<LayerProjection> layers;
  // When whole-model candidates were compared on held-back text (`auto`,
  // `--kv-budget`): the decision, its rule and evidence, as JSON.
  std::string decision;
  // Set by LoadProjections: whether the file carried a content digest of
  // its tensors (metadata "tensor_sha256", checked on load). Files written
  // before the digest existed load with this false.
  bool content_digest_checked = false;

  std::vector<int> KvHeadsPerLayer() const;
};

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_PROJECTIONS_H_
