#include "runtime/ops/device_ops.h"

namespace headroom::runtime {

const char* ActivationName(Activation activation) {
  switch (activation) {
    case Activation::kResidual:
      return "residual";
    case Activation::kNormed:
      return "normed";
    case Activation::kQueries:
      return "queries";
    case Activation::kKeys:
      return "keys";
    case Activation::kValues:
      return "values";
    case Activation::kQueriesProjected:
      return "queries_projected";
    case Activation::kKeysProjected:
      return "keys_projected";
    case Activation::kAttention:
      return "attention";
    case Activation::kGate:
      return "gate";
    case Activation::kUp:
      return "up";
    case Activation::kHidden:
      return "hidden";
    case Activation::kOutputRows:
      return "output_rows";
  }
  return "unknown";
}

Activation BiasTarget(Bias bias) {
  switch (bias) {
    case Bias::kQuery:
      return Activation::kQueries;
    case Bias::kKey:
      return Activation::kKeys;
    case Bias::kValue:
      return Activation::kValues;
    case Bias::kGate:
      return Activation::kGate;
    case Bias::kUp:
      return Activation::kUp;
    case Bias::kOutput:
    case Bias::kDown:
      break;
  }
  return Activation::kResidual;
}

int64_t ActivationColumns(const ModelConfig& config, Activation activation,
                          int layer, bool post_rope_proj) {
  const int64_t d = config.head_dim, h = config.n_heads;
  const int64_t g = config.CacheKvHeads(layer);
  switch (activation) {
    case Activation::kResidual:
    case Activation::kNormed:
    case Activation::kOutputRows:
      return config.dim;
    case Activation::kQueries:
    case Activation::kQueriesProjected:
    case Activation::kAttention:
      return h * d;
    case Activation::kKeys:
      return (post_rope_proj ? config.n_kv_heads : g) * d;
    case Activation::kValues:
    case Activation::kKeysProjected:
      return g * d;
    case Activation::kGate:
    case Activation::kUp:
    case Activation::kHidden:
      return config.hidden_dim;
  }
  return 0;
}

}  // namespace headroom::runtime
