// The projections on the CPU: MatMul over the weights in their stored
// dtype (runtime/cpu/matmul.h), batch-invariant.
#include "runtime/cpu/cpu_ops.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cpu/matmul.h"

namespace headroom::runtime::cpu {

absl::Status CpuOps::ProjectQkv(int layer) {
  const LayerWeights& lw = w_.layers[layer];
  const int64_t D = w_.config.dim;
  MatMul(pool_, num_tokens_, normed_.data(), D, lw.wq, queries_.data(),
         Columns(Activation::kQueries, layer));
  MatMul(pool_, num_tokens_, normed_.data(), D, lw.wk, keys_.data(),
         Columns(Activation::kKeys, layer));
  MatMul(pool_, num_tokens_, normed_.data(), D, lw.wv, values_.data(),
         Columns(Activation::kValues, layer));
  return absl::OkStatus();
}

absl::Status CpuOps::ProjectOutput(int layer) {
  MatMul(pool_, num_tokens_, attention_.data(),
         Columns(Activation::kAttention, layer), w_.layers[layer].wo,
         residual_.data(), w_.config.dim, /*accumulate=*/true);
  return absl::OkStatus();
}

absl::Status CpuOps::ProjectGateUp(int layer) {
  const LayerWeights& lw = w_.layers[layer];
  const int64_t D = w_.config.dim, F = w_.config.hidden_dim;
  MatMul(pool_, num_tokens_, normed_.data(), D, lw.w1, gate_.data(), F);
  MatMul(pool_, num_tokens_, normed_.data(), D, lw.w3, up_.data(), F);
  return absl::OkStatus();
}

absl::Status CpuOps::SiluMul() {
  cpu::SiluMul(gate_.data(), up_.data(),
               int64_t{num_tokens_} * w_.config.hidden_dim);
  return absl::OkStatus();
}

absl::Status CpuOps::ProjectDown(int layer) {
  MatMul(pool_, num_tokens_, gate_.data(), w_.config.hidden_dim,
         w_.layers[layer].w2, residual_.data(), w_.config.dim,
         /*accumulate=*/true);
  return absl::OkStatus();
}

absl::Status CpuOps::ComputeLogits() {
  MatMul(pool_, num_outputs_, output_rows_.data(), w_.config.dim,
         w_.classifier(), logits_.data(), w_.config.vocab_size);
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cpu
