#include "tools/model_bundle.h"

#include "runtime/model_loader.h"

namespace headroom::tools {

absl::StatusOr<ModelBundle> LoadModelBundle(const std::string& model_path,
                                            const std::string& tokenizer_path) {
  ModelBundle bundle;
  auto weights = runtime::LoadModel(model_path);
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

}  // namespace headroom::tools
