#include "runtime/weights/model_loader.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "runtime/weights/hf_checkpoint.h"
#include "runtime/weights/llama2c_checkpoint.h"

namespace headroom::runtime {

absl::StatusOr<ModelWeights> LoadModel(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return LoadHfCheckpoint(path);
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("model ", path, " does not exist"));
  }
  return LoadLlama2cCheckpoint(path);
}

}  // namespace headroom::runtime
