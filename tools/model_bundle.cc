#include "tools/model_bundle.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "compress/apply.h"
#include "compress/projections_file.h"
#include "runtime/weights/model_loader.h"

namespace headroom::tools {

absl::StatusOr<runtime::LoadOptions> LoadOptionsFromArgs(const CliArgs& args) {
  auto dtype =
      runtime::ParseWeightsDtypeOption(args.Get(kWeightsDtypeFlag, "auto"));
  if (!dtype.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", kWeightsDtypeFlag, ": ", dtype.status().message()));
  }
  runtime::LoadOptions load;
  load.weights_dtype = *dtype;
  return load;
}

absl::StatusOr<ModelBundle> LoadModelBundle(const std::string& model_path,
                                            const std::string& tokenizer_path,
                                            const runtime::LoadOptions& load) {
  ModelBundle bundle;
  auto weights = runtime::LoadModel(model_path, load);
  if (!weights.ok()) return weights.status();
  bundle.weights = std::move(*weights);
  bundle.tokenizer_path = tokenizer_path;
  if (bundle.tokenizer_path.empty()) {
    auto found = runtime::FindTokenizerFor(model_path);
    if (!found.ok()) return found.status();
    bundle.tokenizer_path = *found;
  }
  auto tok = runtime::LoadTokenizer(bundle.tokenizer_path,
                                    bundle.weights.config.vocab_size);
  if (!tok.ok()) return tok.status();
  bundle.tokenizer = std::move(*tok);
  return bundle;
}

absl::StatusOr<std::string> CopyTokenizerFile(const std::string& src,
                                              const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path from(src);
  const fs::path to =
      fs::path(dir) /
      (from.extension() == ".model" ? "tokenizer.model" : "tokenizer.bin");
  std::error_code ec;
  if (fs::exists(to, ec) && fs::equivalent(from, to, ec)) return to.string();
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot copy tokenizer ", src,
                                            " to ", to.string(), ": ",
                                            ec.message()));
  }
  return to.string();
}

absl::StatusOr<ModelBundle> LoadCompressedModelBundle(
    const std::string& model_path, const std::string& tokenizer_path,
    const std::string& projections_path, const runtime::LoadOptions& load) {
  auto bundle = LoadModelBundle(model_path, tokenizer_path, load);
  if (!bundle.ok() || projections_path.empty()) return bundle;
  auto projections = compress::LoadProjections(projections_path);
  if (!projections.ok()) return projections.status();
  if (auto s = compress::ApplyProjections(*projections, &bundle->weights);
      !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat(projections_path, ": ", s.message()));
  }
  return bundle;
}

}  // namespace headroom::tools
