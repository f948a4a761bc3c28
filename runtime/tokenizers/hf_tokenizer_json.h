// Reads a Hugging Face tokenizer.json (the tokenizers library's
// serialization) into the components that HfTokenizer assembles. Only BPE
// models are read; every component type that is not supported, and every
// malformed field, is InvalidArgument naming the JSON field and its value
// (e.g. `model.type "WordPiece" is not supported`).
#ifndef HEADROOM_RUNTIME_TOKENIZERS_HF_TOKENIZER_JSON_H_
#define HEADROOM_RUNTIME_TOKENIZERS_HF_TOKENIZER_JSON_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizers/added_tokens.h"
#include "runtime/tokenizers/bpe_model.h"
#include "runtime/tokenizers/hf_decoder.h"
#include "runtime/tokenizers/normalizer.h"
#include "runtime/tokenizers/pre_tokenizer.h"

namespace headroom::runtime {

struct HfTokenizerSpec {
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  BpeModel model;
  std::vector<AddedToken> added_tokens;
  HfDecoder decoder;
  // The post-processor's single-sequence template (TemplateProcessing):
  // ids before and after the text when special tokens are added.
  std::vector<int> prefix_ids;
  std::vector<int> suffix_ids;
};

// Parses `json` (the contents of a tokenizer.json).
absl::StatusOr<HfTokenizerSpec> ParseHfTokenizerJson(std::string_view json);

// bos_token and eos_token of a tokenizer_config.json (a string or an object
// with "content"); absent, null or malformed fields are nullopt.
struct HfSpecialTokenNames {
  std::optional<std::string> bos;
  std::optional<std::string> eos;
};
HfSpecialTokenNames ParseHfTokenizerConfig(std::string_view json);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_HF_TOKENIZER_JSON_H_
