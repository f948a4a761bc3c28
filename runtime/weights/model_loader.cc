#include "runtime/weights/model_loader.h"

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/weights/hf_checkpoint.h"
#include "runtime/weights/llama2c_checkpoint.h"

namespace headroom::runtime {

absl::StatusOr<std::optional<WeightDtype>> ParseWeightsDtypeOption(
    std::string_view name) {
  if (name == "auto") return std::optional<WeightDtype>();
  auto dtype = ParseWeightDtype(name);
  if (!dtype.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("weights dtype \"", std::string(name),
                     "\" is not one of auto, f32, f16, bf16, q8_0"));
  }
  return std::optional<WeightDtype>(*dtype);
}

absl::StatusOr<ModelWeights> LoadModel(const std::string& path,
                                       const LoadOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return LoadHfCheckpoint(path, options.weights_dtype);
  }
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("model ", path, " does not exist"));
  }
  return LoadLlama2cCheckpoint(path, options.weights_dtype);
}

}  // namespace headroom::runtime
