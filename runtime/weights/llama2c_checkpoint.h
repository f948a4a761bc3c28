// llama2.c "legacy" checkpoints (../shared/models/SOURCES.md): a header of 7
// int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
// negative vocab_size = unshared classifier), then fp32 tensors.
#ifndef HEADROOM_RUNTIME_WEIGHTS_LLAMA2C_CHECKPOINT_H_
#define HEADROOM_RUNTIME_WEIGHTS_LLAMA2C_CHECKPOINT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/model/model_weights.h"
#include "runtime/weights/weight_dtype.h"

namespace headroom::runtime {

// Reads a checkpoint; rope_style is kInterleaved. Errors name the file and
// say what does not match (truncated file, sizes vs file size, bad header).
// The file is mapped; matrices are views of it when served in fp32
// (`weights_dtype` nullopt or f32), else converted one at a time.
absl::StatusOr<ModelWeights> LoadLlama2cCheckpoint(
    const std::string& path,
    std::optional<WeightDtype> weights_dtype = std::nullopt);

// Writes `weights` in the same format (interleaved RoPE, no post-RoPE
// projections, uniform KV heads).
absl::Status WriteLlama2cCheckpoint(const ModelWeights& weights,
                                    const std::string& path);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_WEIGHTS_LLAMA2C_CHECKPOINT_H_
