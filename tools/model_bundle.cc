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
  const std::string name = from.extension() == ".json"    ? "tokenizer.json"
                           : from.extension() == ".model" ? "tokenizer.model"
                                                          : "tokenizer.bin";
  const fs::path to = fs::path(dir) / name;
  auto copy = [](const fs::path& a, const fs::path& b) -> absl::Status {
    std::error_code ec;
    if (fs::exists(b, ec) && fs::equivalent(a, b, ec)) return absl::OkStatus();
    fs::copy_file(a, b, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot copy tokenizer ",
                                              a.string(), " to ", b.string(),
                                              ": ", ec.message()));
    }
    return absl::OkStatus();
  };
  if (auto s = copy(from, to); !s.ok()) return s;
  // tokenizer.json's BOS and EOS may come from tokenizer_config.json.
  const fs::path config = from.parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (name == "tokenizer.json" && fs::is_regular_file(config, ec)) {
    if (auto s = copy(config, fs::path(dir) / "tokenizer_config.json");
        !s.ok()) {
      return s;
    }
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
