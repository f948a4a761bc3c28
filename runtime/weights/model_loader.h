// One entry point for every checkpoint format the runtime reads.
#ifndef HEADROOM_RUNTIME_WEIGHTS_MODEL_LOADER_H_
#define HEADROOM_RUNTIME_WEIGHTS_MODEL_LOADER_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/model/model_weights.h"
#include "runtime/weights/weight_dtype.h"

namespace headroom::runtime {

struct LoadOptions {
  // The dtype the weight matrices are served in; nullopt ("auto") serves
  // each in the checkpoint's own dtype, viewed in place from the mapped
  // file. llama2.c checkpoints are fp32.
  std::optional<WeightDtype> weights_dtype;
};

// "auto" (nullopt) or a WeightDtype name, as `model.weights_dtype` and
// `--weights-dtype` spell it; InvalidArgument listing the choices otherwise.
absl::StatusOr<std::optional<WeightDtype>> ParseWeightsDtypeOption(
    std::string_view name);

// `path` is a llama2.c .bin file or a Hugging Face directory (config.json).
absl::StatusOr<ModelWeights> LoadModel(const std::string& path,
                                       const LoadOptions& options = {});

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_WEIGHTS_MODEL_LOADER_H_
