// ModelConfig: the shape of a LLaMA-family decoder, as the runtime executes it.
//
// Symbols follow ../shared/docs/method.md: D = dim, h = n_heads, d = head_dim,
// n = KV heads a layer's W_K / W_V compute, g_l = KV heads a layer caches.
// For an unmodified checkpoint n == g_l for every layer. A model compressed
// with SVD-a on RoPE keys computes n key heads, rotates them, and projects them
// to g_l cached heads (LayerWeights::key_cache_proj).
#ifndef HEADROOM_RUNTIME_MODEL_MODEL_CONFIG_H_
#define HEADROOM_RUNTIME_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace headroom::runtime {

// How RoPE pairs the coordinates of a head (method.md, "Mind the pair
// convention").
enum class RopeStyle {
  kInterleaved,  // llama2.c / Meta: pairs (2p, 2p+1)
  kHalf,         // Hugging Face rotate_half: pairs (p, p + d/2)
};

const char* RopeStyleName(RopeStyle style);

// Coordinates (a, b) of RoPE pair p in a head of size d: the pair rotates as
// the complex number x[a] + i x[b].
inline std::pair<int, int> RopePair(RopeStyle style, int d, int p) {
  return style == RopeStyle::kInterleaved ? std::pair{2 * p, 2 * p + 1}
                                          : std::pair{p, p + d / 2};
}

// RoPE frequency scaling of long-context checkpoints (config.json
// "rope_scaling"; runtime/model/rope.h computes the scaled frequencies).
struct RopeScaling {
  enum class Type {
    kNone,
    kLinear,  // every frequency / factor (positions interpolated)
    kLlama3,  // LLaMA 3.1: low frequencies / factor, high kept, smooth between
  };
  Type type = Type::kNone;
  float factor = 1.0f;
  float low_freq_factor = 1.0f;      // llama3
  float high_freq_factor = 4.0f;     // llama3
  int original_max_position = 8192;  // llama3: the pre-training context
};

struct ModelConfig {
  int dim = 0;         // D, the residual width
  int hidden_dim = 0;  // FFN width
  int n_layers = 0;
  int n_heads = 0;     // h, query heads
  int n_kv_heads = 0;  // n, KV heads of the source checkpoint (W_K rows / d)
  int head_dim = 0;    // d
  int vocab_size = 0;
  int max_seq_len = 0;  // context length in tokens
  float rope_theta = 10000.0f;
  RopeStyle rope_style = RopeStyle::kInterleaved;
  RopeScaling rope_scaling;
  float norm_eps = 1e-5f;
  bool tied_embeddings = true;  // classifier shares token_embedding
  int bos_id = 1;
  int eos_id = 2;

  // Features of newer LLaMA-family checkpoints (all off for LLaMA 1/2).
  bool qkv_bias = false;     // b_Q, b_K, b_V (Qwen2; LLaMA attention_bias)
  bool output_bias = false;  // b_O (LLaMA attention_bias)
  bool mlp_bias = false;     // b_1, b_3, b_2 (LLaMA mlp_bias)
  bool qk_norm = false;      // RMSNorm of each q and k head before RoPE (Qwen3)
  // Mistral: a token at position p attends to positions
  // max(0, p - sliding_window + 1) .. p; 0 = all of 0 .. p.
  int sliding_window = 0;

  // g_l: KV heads each layer stores in the cache. Empty means n for all
  // layers. Each entry divides n_heads.
  std::vector<int> cache_kv_heads;

  // g_l for layer `layer` (n_kv_heads when cache_kv_heads is empty).
  int CacheKvHeads(int layer) const;
  // Sum over layers of 2 * g_l * d: KV values stored per token.
  int64_t KvValuesPerToken() const;
  // Same for the uncompressed layout (2 * n * d * L).
  int64_t OriginalKvValuesPerToken() const;

  // Checks every field for a usable model; the message names the field.
  absl::Status Validate() const;
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_MODEL_MODEL_CONFIG_H_
