// QkNorm on the CPU: RMSNorm of every query and key head (Qwen3), in place.
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/kernels.h"

namespace headroom::runtime::cpu {

absl::Status CpuOps::QkNorm(int layer) {
  const ModelConfig& c = w_.config;
  const LayerWeights& lw = w_.layers[layer];
  const int d = c.head_dim;
  // RmsNorm reads all of a head before it writes any of it: in place.
  auto norm_heads = [&](std::vector<float>& rows, int64_t width,
                        const std::vector<float>& weight) {
    for (int64_t at = 0; at < num_tokens_ * width; at += d) {
      cpu::RmsNorm(rows.data() + at, weight.data(), d, c.norm_eps,
                   rows.data() + at);
    }
  };
  norm_heads(queries_, Columns(Activation::kQueries, layer), lw.q_norm);
  norm_heads(keys_, Columns(Activation::kKeys, layer), lw.k_norm);
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cpu
