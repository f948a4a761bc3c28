// RoPE's rotation frequencies, the one place they are computed: the CPU and
// CUDA ops and the compressor's RoPE-aware methods all rotate by these.
//
// Pair p of a head of size d rotates by angle pos * inv_freq[p], with
// inv_freq[p] = theta^(-2p/d) (RoFormer; LLaMA), then scaled by the
// checkpoint's rope_scaling:
//   linear: inv_freq / factor (Chen et al. 2023, position interpolation);
//   llama3: wavelengths 2 pi / inv_freq longer than
//     original_max_position / low_freq_factor are divided by factor, those
//     shorter than original_max_position / high_freq_factor kept, and those
//     between interpolated with s = (original_max_position / wavelength -
//     low_freq_factor) / (high_freq_factor - low_freq_factor):
//     (1 - s) inv_freq / factor + s inv_freq (Meta's LLaMA 3.1 release, as
//     Hugging Face transformers computes it).
#ifndef HEADROOM_RUNTIME_MODEL_ROPE_H_
#define HEADROOM_RUNTIME_MODEL_ROPE_H_

#include <vector>

#include "runtime/model/model_config.h"

namespace headroom::runtime {

// [head_dim / 2] frequencies, fp32. Unscaled, each is computed as
// 1.0f / powf(theta, 2p / d) in float, the arithmetic of llama2.c's run.c,
// so the rotations match the reference outputs bit for bit.
std::vector<float> RopeInverseFrequencies(const ModelConfig& config);

const char* RopeScalingTypeName(RopeScaling::Type type);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_MODEL_ROPE_H_
