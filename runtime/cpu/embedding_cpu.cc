// Embed on the CPU: each token's row of the embedding table, widened to fp32.
#include "runtime/cpu/cpu_ops.h"

namespace headroom::runtime::cpu {

absl::Status CpuOps::Embed() {
  const int64_t D = w_.config.dim;
  for (int t = 0; t < num_tokens_; ++t) {
    w_.token_embedding.RowToFloat(batch_->token_ids[t],
                                  residual_.data() + t * D);
  }
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cpu
