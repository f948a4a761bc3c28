// config.json of a Hugging Face checkpoint: the decoder architectures the
// runtime computes, read into a ModelConfig and written back.
//
//   LlamaForCausalLM    LLaMA 1/2/3/3.1/3.2, TinyLlama: rope_scaling
//                       (linear, llama3), head_dim, attention_bias (b_Q,
//                       b_K, b_V, b_O), mlp_bias (b_1, b_3, b_2)
//   MistralForCausalLM  sliding_window: a real attention window
//   Qwen2ForCausalLM    Qwen2, Qwen2.5: b_Q, b_K, b_V
//   Qwen3ForCausalLM    per-head RMSNorm of q and k (q_norm, k_norm);
//                       attention_bias as LLaMA's
// Anything else is refused with the field and value that is not supported.
#ifndef HEADROOM_RUNTIME_WEIGHTS_HF_CONFIG_H_
#define HEADROOM_RUNTIME_WEIGHTS_HF_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/model/model_config.h"

namespace headroom::runtime {

// Parses config.json's object `root`; `path` names the file in messages.
absl::StatusOr<ModelConfig> ParseHfConfig(const nlohmann::json& root,
                                          const std::string& path);

// The config.json for `c` with `kv_heads` KV heads in every layer and its
// tensors stored as `torch_dtype` ("bfloat16", ...).
nlohmann::json HfConfigJson(const ModelConfig& c, int kv_heads,
                            const char* torch_dtype);

// The architecture config.json names for `c`'s features.
const char* HfArchitectureName(const ModelConfig& c);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_WEIGHTS_HF_CONFIG_H_
