// RmsNorm and FinalNorm on the CPU, one token row at a time
// (runtime/cpu/kernels.h).
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/kernels.h"

namespace headroom::runtime::cpu {

absl::Status CpuOps::RmsNorm(int layer, LayerNorm norm) {
  const ModelConfig& c = w_.config;
  const LayerWeights& lw = w_.layers[layer];
  const float* weight =
      norm == LayerNorm::kAttention ? lw.rms_att.data() : lw.rms_ffn.data();
  const int64_t D = c.dim;
  for (int t = 0; t < num_tokens_; ++t) {
    cpu::RmsNorm(residual_.data() + t * D, weight, c.dim, c.norm_eps,
                 normed_.data() + t * D);
  }
  return absl::OkStatus();
}

absl::Status CpuOps::FinalNorm() {
  const ModelConfig& c = w_.config;
  const int64_t D = c.dim;
  for (int t = 0, o = 0; t < num_tokens_; ++t) {
    if (!batch_->want_logits[t]) continue;
    cpu::RmsNorm(residual_.data() + t * D, w_.rms_final.data(), c.dim,
                 c.norm_eps, output_rows_.data() + int64_t{o} * D);
    ++o;
  }
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cpu
