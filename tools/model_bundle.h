// Loading a model and its tokenizer from the tools' --model / --tokenizer.
#ifndef HEADROOM_TOOLS_MODEL_BUNDLE_H_
#define HEADROOM_TOOLS_MODEL_BUNDLE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/model/model_weights.h"
#include "runtime/tokenizers/tokenizer.h"
#include "runtime/weights/model_loader.h"
#include "tools/cli_args.h"

namespace headroom::tools {

struct ModelBundle {
  runtime::ModelWeights weights;
  std::unique_ptr<runtime::Tokenizer> tokenizer;
  std::string tokenizer_path;
};

// The flag every tool that loads a model takes, and how it reads it:
// --weights-dtype auto|f32|f16|bf16|q8_0 (default auto).
inline constexpr char kWeightsDtypeFlag[] = "weights-dtype";
absl::StatusOr<runtime::LoadOptions> LoadOptionsFromArgs(const CliArgs& args);

// `tokenizer_path` empty: the tokenizer found beside the model.
absl::StatusOr<ModelBundle> LoadModelBundle(
    const std::string& model_path, const std::string& tokenizer_path,
    const runtime::LoadOptions& load = {});

// Copies tokenizer file `src` into `dir`: a .json file becomes
// tokenizer.json (with the tokenizer_config.json beside it, if any), a
// .model file tokenizer.model, a llama2.c tokenizer tokenizer.bin (the
// names FindTokenizerFor looks for). Returns the destination path.
absl::StatusOr<std::string> CopyTokenizerFile(const std::string& src,
                                              const std::string& dir);

// Loads the model and tokenizer, then applies `projections_path` when it is
// not empty (compress::ApplyProjections).
absl::StatusOr<ModelBundle> LoadCompressedModelBundle(
    const std::string& model_path, const std::string& tokenizer_path,
    const std::string& projections_path, const runtime::LoadOptions& load = {});

}  // namespace headroom::tools

#endif  // HEADROOM_TOOLS_MODEL_BUNDLE_H_
