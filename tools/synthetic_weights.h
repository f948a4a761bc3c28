// Random weights for headroom-make-synthetic: the dimensions of published
// models by name, and values that depend only on (seed, tensor name, row),
// produced one row at a time so that any size can be written in bounded
// memory.
#ifndef HEADROOM_TOOLS_SYNTHETIC_WEIGHTS_H_
#define HEADROOM_TOOLS_SYNTHETIC_WEIGHTS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/model/model_weights.h"

namespace headroom::tools {

// "default" (dim 1024, 12 layers, 187M parameters), "llama2-7b",
// "llama2-13b", "llama3-8b", "llama3.1-8b" (with its rope_scaling),
// "tinyllama-1.1b", "mistral-7b" (v0.1, sliding window 4096), "qwen2.5-7b"
// (q/k/v biases), "qwen3-8b" (q/k norms): the config.json dimensions and
// features of those checkpoints. InvalidArgument listing the names otherwise.
absl::StatusOr<runtime::ModelConfig> SyntheticShape(std::string_view name);

// Sets the features of architecture `arch` on `c` (none when empty):
// "llama" (none), "llama-bias" (attention_bias and mlp_bias), "mistral"
// (a sliding window of `sliding_window` positions), "qwen2" (q/k/v biases),
// "qwen3" (per-head q/k norms). InvalidArgument naming --arch otherwise.
absl::Status ApplySyntheticArchitecture(std::string_view arch,
                                        int sliding_window,
                                        runtime::ModelConfig* c);

// Weights of a checkpoint of config `c` (its tensors as HfTensorSpecs
// lists them).
int64_t SyntheticParameterCount(const runtime::ModelConfig& c);

class SyntheticWeights {
 public:
  // `scale` multiplies the standard deviation 0.02 (tests use larger
  // weights, whose attention is sharp enough to show every term).
  explicit SyntheticWeights(uint64_t seed, float scale = 1.0f)
      : seed_(seed), scale_(scale) {}

  // Row `row` of tensor `name` of `shape` into out[0, shape.back()): 1 for
  // a norm (one dimension, not a bias), else uniform on [-0.0346, 0.0346]
  // times `scale` (standard deviation 0.02 scale).
  void Row(std::string_view name, const std::vector<int64_t>& shape,
           int64_t row, float* out) const;

  // The whole model in memory (fp32), for the llama2.c format.
  runtime::ModelWeights Model(const runtime::ModelConfig& c) const;

 private:
  uint64_t seed_;
  float scale_;
};

}  // namespace headroom::tools

#endif  // HEADROOM_TOOLS_SYNTHETIC_WEIGHTS_H_
