// The transformations (method.md): each computes, for one layer and a target
// of g KV heads, the encoders and decoders of a LayerProjection from the
// calibration statistics (or from the weights alone, for the data-free ones).
#ifndef HEADROOM_COMPRESS_METHODS_H_
#define HEADROOM_COMPRESS_METHODS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compress/calibration.h"
#include "compress/projections.h"
#include "runtime/model/model_weights.h"

namespace headroom::compress {

enum class BaseMethod {
  kMeanPool,            // average the group's K and V heads (GQA uptraining)
  kSvdW,                // data-free: top singular vectors of stacked weights
  kSvdA,                // the paper: top eigenvectors of C_K (post-RoPE), C_V
  kRopeCommuting,       // per-pair complex eigenvectors; folds into W_K, W_Q
  kSvdAAware,           // ours: svd-a with query-aware keys, output-aware
                        // values (method.md items 1 and 2)
  kRopeCommutingAware,  // ours: rope-commuting weighted by query power per
                        // pair, output-aware values
};

// A method name as users give it: a base method, optionally "+refit" (least
// squares refit of W_O on calibration activations, method.md item 5), or
// "auto" (per layer, the candidate with the lowest attention-output error on
// held-back calibration tokens, item 6).
struct MethodSpec {
  bool is_auto = false;
  BaseMethod base = BaseMethod::kSvdA;
  bool refit_wo = false;
  std::string name;
};

absl::StatusOr<MethodSpec> ParseMethod(const std::string& name);
std::string BaseMethodName(BaseMethod method);
std::vector<BaseMethod> AllBaseMethods();
// OK when `base` can compress a model of `config`; FailedPrecondition with
// the reason otherwise: methods that fold the keys into W_K before RoPE
// (mean-pool, rope-commuting, rope-commuting-qa) cannot pass through a
// per-head key norm (qk_norm, Qwen3).
absl::Status CheckMethodApplies(BaseMethod base,
                                const runtime::ModelConfig& config);
// The base methods that apply to `config`: those `auto` chooses among.
std::vector<BaseMethod> ApplicableBaseMethods(
    const runtime::ModelConfig& config);
// Every accepted name, one per line, with a short description.
std::string DescribeMethods();

// Encoders and decoders of `base` for layer `layer` of `weights` (an
// uncompressed model) merging its n KV heads into `kv_heads` groups of
// contiguous heads. `stats` may be null for the data-free methods.
absl::StatusOr<LayerProjection> ComputeLayerProjection(
    BaseMethod base, const runtime::ModelWeights& weights, int layer,
    const LayerStats* stats, int kv_heads);

// 1 - E|x - Dec Enc x|^2 / E|x|^2 summed over the groups, for the second
// moment `c` ([n d, n d]) and a layer's encoder / decoder blocks (keys when
// `keys`, else values).
double EnergyKept(const runtime::ModelConfig& config,
                  const LayerProjection& projection,
                  const std::vector<double>& c, bool keys);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_METHODS_H_
