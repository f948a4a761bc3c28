// Hugging Face LLaMA-family checkpoint directories: config.json plus
// model.safetensors, or sharded *.safetensors with
// model.safetensors.index.json. F32, F16 and BF16 tensors; matrices are
// viewed in place from the mapped files when served in their own dtype.
#ifndef HEADROOM_RUNTIME_WEIGHTS_HF_CHECKPOINT_H_
#define HEADROOM_RUNTIME_WEIGHTS_HF_CHECKPOINT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/model/model_weights.h"
#include "runtime/weights/weight_dtype.h"

namespace headroom::runtime {

// Loads the directory `dir`; rope_style is kHalf (rotate_half pairing).
// Reads model.safetensors, else model.safetensors.index.json and its shards.
// Errors name the file and the field or tensor at fault: InvalidArgument for
// a malformed config.json or wrong shapes, NotFound for a missing file or
// tensor, Unimplemented for LLaMA variants the runtime does not compute
// (rope_scaling, biases, non-silu activations, other model types).
// A Mistral config with sliding_window below max_position_embeddings loads
// with max_seq_len = sliding_window, where the model is exact.
// `weights_dtype` is the dtype the matrices are served in (nullopt: each
// its own, viewed in place; else converted one tensor at a time, see
// TensorFromStored).
absl::StatusOr<ModelWeights> LoadHfCheckpoint(
    const std::string& dir,
    std::optional<WeightDtype> weights_dtype = std::nullopt);

enum class HfDtype { kF32, kF16, kBF16 };

// "f32", "f16", "bf16" (as on the command line).
const char* HfDtypeName(HfDtype dtype);
// Parses "f32" / "f16" / "bf16" (also "float32", "float16", "bfloat16");
// InvalidArgument names `name` otherwise.
absl::StatusOr<HfDtype> ParseHfDtype(std::string_view name);

struct HfWriteOptions {
  HfDtype dtype = HfDtype::kF32;
};

// Writes config.json + model.safetensors into `dir` (created if needed).
// Weights with interleaved RoPE have their q/k rows permuted into the
// rotate_half pairing, so the written model computes the same function.
// FailedPrecondition for weights HF LLaMA cannot express: post-RoPE key /
// query projections, or per-layer KV head counts that differ; a uniform
// cache_kv_heads g is written as num_key_value_heads = g. InvalidArgument
// when a weight overflows the chosen dtype.
absl::Status WriteHfCheckpoint(const ModelWeights& weights,
                               const std::string& dir,
                               const HfWriteOptions& options = {});

// Writes config.json into `dir` for `c` with `kv_heads` KV heads in every
// layer and tensors stored in `dtype`.
absl::Status WriteHfConfig(const ModelConfig& c, int kv_heads, HfDtype dtype,
                           const std::string& dir);

// A tensor of a checkpoint as Hugging Face names it, and where it lives in
// ModelWeights.
struct HfTensorSpec {
  std::string name;            // "model.layers.3.mlp.down_proj.weight"
  std::vector<int64_t> shape;  // [rows, cols], or [n] for a norm or bias
  int layer = -1;              // -1: not a layer's
  const char* field = "";      // LayerWeights / ModelWeights member: "w2"
};
// Every tensor of `c`'s checkpoint (its architecture's biases and norms
// included), in checkpoint order (rotate_half RoPE); K and V with
// `kv_heads` heads (0: c.n_kv_heads).
std::vector<HfTensorSpec> HfTensorSpecs(const ModelConfig& c, int kv_heads = 0);

// Where a spec's values go: a matrix or an fp32 vector.
struct HfTensorSlot {
  Tensor* matrix = nullptr;
  std::vector<float>* vector = nullptr;
};
// `w.layers` must already have c.n_layers entries.
HfTensorSlot SlotOf(ModelWeights& w, const HfTensorSpec& spec);

// Writes a sharded checkpoint (model-0000i-of-0000n.safetensors,
// model.safetensors.index.json, config.json) whose values come from
// `rows(spec, row, out)`, one row at a time, so that no tensor is held in
// memory whole: memory stays at one row whatever the model's size.
absl::Status WriteShardedHfCheckpoint(
    const ModelConfig& c, HfDtype dtype, int64_t max_shard_bytes,
    const std::function<void(const HfTensorSpec&, int64_t row, float* out)>&
        rows,
    const std::string& dir);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_WEIGHTS_HF_CHECKPOINT_H_
