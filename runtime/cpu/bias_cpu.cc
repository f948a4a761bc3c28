// AddBias on the CPU: one bias vector added to every row of an activation.
#include "absl/strings/str_cat.h"
#include "runtime/cpu/cpu_ops.h"

namespace headroom::runtime::cpu {

absl::Status CpuOps::AddBias(int layer, Bias bias) {
  const LayerWeights& lw = w_.layers[layer];
  const std::vector<float>* b = nullptr;
  switch (bias) {
    case Bias::kQuery:
      b = &lw.bq;
      break;
    case Bias::kKey:
      b = &lw.bk;
      break;
    case Bias::kValue:
      b = &lw.bv;
      break;
    case Bias::kOutput:
      b = &lw.bo;
      break;
    case Bias::kGate:
      b = &lw.b1;
      break;
    case Bias::kUp:
      b = &lw.b3;
      break;
    case Bias::kDown:
      b = &lw.b2;
      break;
  }
  const Activation target = BiasTarget(bias);
  const int64_t cols = Columns(target, layer);
  if (static_cast<int64_t>(b->size()) != cols) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cpu ops: layer ", layer, " has no ", ActivationName(target),
        " bias of ", cols, " values (the weights were validated without it)"));
  }
  float* rows = Buffer(target).data();
  for (int64_t t = 0; t < num_tokens_; ++t) {
    float* row = rows + t * cols;
    for (int64_t i = 0; i < cols; ++i) row[i] += (*b)[i];
  }
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cpu
