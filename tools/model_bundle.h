// Loading a model and its tokenizer from the tools' --model / --tokenizer.
#ifndef HEADROOM_TOOLS_MODEL_BUNDLE_H_
#define HEADROOM_TOOLS_MODEL_BUNDLE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/model_weights.h"
#include "runtime/tokenizer.h"

namespace headroom::tools {

struct ModelBundle {
  runtime::ModelWeights weights;
  std::unique_ptr<runtime::Tokenizer> tokenizer;
  std::string tokenizer_path;
};

// `tokenizer_path` empty: the tokenizer found beside the model.
absl::StatusOr<ModelBundle> LoadModelBundle(const std::string& model_path,
                                            const std::string& tokenizer_path);

}  // namespace headroom::tools

#endif  // HEADROOM_TOOLS_MODEL_BUNDLE_H_
