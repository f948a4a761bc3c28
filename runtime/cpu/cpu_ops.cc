#include "runtime/cpu/cpu_ops.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/model/rope.h"

namespace headroom::runtime::cpu {

CpuOps::CpuOps(ModelWeights weights, std::unique_ptr<KvCache> cache,
               int threads)
    : w_(std::move(weights)),
      cache_(std::move(cache)),
      pool_(std::max(1, threads)),
      rope_inv_freq_(RopeInverseFrequencies(w_.config)) {}

std::vector<float>& CpuOps::Buffer(Activation activation) {
  switch (activation) {
    case Activation::kResidual:
      return residual_;
    case Activation::kNormed:
      return normed_;
    case Activation::kQueries:
      return queries_;
    case Activation::kKeys:
      return keys_;
    case Activation::kValues:
      return values_;
    case Activation::kQueriesProjected:
      return queries_projected_;
    case Activation::kKeysProjected:
      return keys_projected_;
    case Activation::kAttention:
      return attention_;
    case Activation::kGate:
    case Activation::kHidden:  // SiluMul works in place
      return gate_;
    case Activation::kUp:
      return up_;
    case Activation::kOutputRows:
      return output_rows_;
  }
  return residual_;
}

int64_t CpuOps::Rows(Activation activation) const {
  return activation == Activation::kOutputRows ? num_outputs_ : num_tokens_;
}

absl::Status CpuOps::BeginStep(const Batch& batch) {
  const ModelConfig& c = w_.config;
  batch_ = &batch;
  num_tokens_ = batch.num_tokens();
  num_outputs_ = batch.num_outputs();
  const int64_t T = num_tokens_;
  // Per-layer widths: size for the widest layer; each layer packs its rows.
  int64_t keys_width = 0, cached_width = 0;
  for (int l = 0; l < c.n_layers; ++l) {
    keys_width = std::max(keys_width, Columns(Activation::kKeys, l));
    cached_width = std::max(cached_width, Columns(Activation::kValues, l));
  }
  const int64_t D = c.dim, hd = int64_t{c.n_heads} * c.head_dim;
  residual_.resize(T * D);
  normed_.resize(T * D);
  queries_.resize(T * hd);
  keys_.resize(T * keys_width);
  values_.resize(T * cached_width);
  queries_projected_.resize(T * hd);
  keys_projected_.resize(T * cached_width);
  attention_.resize(T * hd);
  gate_.resize(T * c.hidden_dim);
  up_.resize(T * c.hidden_dim);
  output_rows_.resize(int64_t{num_outputs_} * D);
  logits_.resize(int64_t{num_outputs_} * c.vocab_size);
  return absl::OkStatus();
}

absl::Status CpuOps::FinishStep(std::vector<float>* logits) {
  logits->assign(logits_.begin(), logits_.end());
  batch_ = nullptr;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> CpuOps::Read(Activation activation,
                                                int layer) {
  const int64_t n = Rows(activation) * Columns(activation, layer);
  const std::vector<float>& buffer = Buffer(activation);
  if (n > static_cast<int64_t>(buffer.size())) {
    return absl::FailedPreconditionError(
        absl::StrCat("cpu ops: ", ActivationName(activation),
                     " is not sized for layer ", layer, " (no step begun?)"));
  }
  return std::vector<float>(buffer.begin(), buffer.begin() + n);
}

absl::Status CpuOps::Write(Activation activation, int layer,
                           const std::vector<float>& values) {
  const int64_t n = Rows(activation) * Columns(activation, layer);
  std::vector<float>& buffer = Buffer(activation);
  if (static_cast<int64_t>(values.size()) != n ||
      n > static_cast<int64_t>(buffer.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cpu ops: ", ActivationName(activation), " of layer ", layer, " holds ",
        n, " values this step, got ", values.size()));
  }
  std::copy(values.begin(), values.end(), buffer.begin());
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cpu
