// One entry point for every checkpoint format the runtime reads.
#ifndef HEADROOM_RUNTIME_WEIGHTS_MODEL_LOADER_H_
#define HEADROOM_RUNTIME_WEIGHTS_MODEL_LOADER_H_

#include <string>

#include "absl/status/statusor.h"
#include "runtime/model/model_weights.h"

namespace headroom::runtime {

// `path` is a llama2.c .bin file or a Hugging Face directory (config.json).
absl::StatusOr<ModelWeights> LoadModel(const std::string& path);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_WEIGHTS_MODEL_LOADER_H_
