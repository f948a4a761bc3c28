#include "runtime/tokenizers/hf_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace headroom::runtime {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  // One read into a string of the file's size (no stream copy).
  const std::streamoff size = in.tellg();
  if (size < 0) return absl::DataLossError(absl::StrCat("cannot read ", path));
  std::string contents(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(contents.data(), size)) {
    return absl::DataLossError(absl::StrCat("cannot read ", path));
  }
  return contents;
}

// The added tokens whose "normalized" flag is `normalized`; those are
// looked for in normalized text, so their contents are normalized too (as
// the library does).
std::vector<AddedToken> WithNormalized(const std::vector<AddedToken>& tokens,
                                       bool normalized,
                                       const Normalizer& normalizer) {
  std::vector<AddedToken> out;
  for (const AddedToken& t : tokens) {
    if (t.normalized != normalized) continue;
    out.push_back(t);
    if (normalized) out.back().content = normalizer.Normalize(t.content);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::Load(
    const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("tokenizer ", path, " does not exist"));
  }
  absl::StatusOr<std::string> json = ReadFile(path);
  if (!json.ok()) return json.status();
  std::string config;
  const fs::path config_path =
      fs::path(path).parent_path() / "tokenizer_config.json";
  if (fs::is_regular_file(config_path, ec)) {
    absl::StatusOr<std::string> c = ReadFile(config_path.string());
    if (c.ok()) config = std::move(*c);
  }
  auto tok = FromJson(*json, config);
  if (!tok.ok()) {
    return absl::Status(
        tok.status().code(),
        absl::StrCat("tokenizer ", path, ": ", tok.status().message()));
  }
  return tok;
}

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::FromJson(
    std::string_view tokenizer_json, std::string_view config_json) {
  absl::StatusOr<HfTokenizerSpec> spec = ParseHfTokenizerJson(tokenizer_json);
  if (!spec.ok()) return spec.status();
  auto tok = std::make_unique<HfTokenizer>(std::move(*spec));
  for (int id : tok->spec_.prefix_ids) {
    if (id >= tok->vocab_size_) {
      return absl::InvalidArgumentError(
          absl::StrCat("post_processor: template id ", id, " is not a token"));
    }
  }
  for (int id : tok->spec_.suffix_ids) {
    if (id >= tok->vocab_size_) {
      return absl::InvalidArgumentError(
          absl::StrCat("post_processor: template id ", id, " is not a token"));
    }
  }
  if (auto s = tok->ChooseBosEos(config_json.empty()
                                     ? HfSpecialTokenNames()
                                     : ParseHfTokenizerConfig(config_json));
      !s.ok()) {
    return s;
  }
  return tok;
}

HfTokenizer::HfTokenizer(HfTokenizerSpec spec)
    : spec_(std::move(spec)),
      raw_matcher_(WithNormalized(spec_.added_tokens, false, spec_.normalizer)),
      normalized_matcher_(
          WithNormalized(spec_.added_tokens, true, spec_.normalizer)) {
  vocab_size_ = spec_.model.size();
  for (const AddedToken& t : spec_.added_tokens) {
    vocab_size_ = std::max(vocab_size_, t.id + 1);
  }
  tokens_.resize(vocab_size_);
  for (int id = 0; id < spec_.model.size(); ++id) {
    tokens_[id] = spec_.model.Token(id);
  }
  std::vector<bool> special(vocab_size_, false);
  for (const AddedToken& t : spec_.added_tokens) {
    tokens_[t.id] = t.content;
    special[t.id] = t.special;
  }
  // Decoding happens once per generated token, so each token's text is
  // worked out once here.
  decoded_.resize(vocab_size_);
  if (spec_.decoder.first_matters()) decoded_first_.resize(vocab_size_);
  for (int id = 0; id < vocab_size_; ++id) {
    if (special[id] || tokens_[id].empty()) continue;
    decoded_[id] = spec_.decoder.DecodeToken(tokens_[id], false);
    if (!decoded_first_.empty()) {
      decoded_first_[id] = spec_.decoder.DecodeToken(tokens_[id], true);
    }
  }
}

int HfTokenizer::TokenId(std::string_view token) const {
  for (const AddedToken& t : spec_.added_tokens) {
    if (t.content == token) return t.id;
  }
  return spec_.model.TokenId(token);
}

absl::Status HfTokenizer::ChooseBosEos(const HfSpecialTokenNames& names) {
  auto named = [&](const std::optional<std::string>& name, const char* what,
                   int* id) -> absl::Status {
    if (!name.has_value()) return absl::OkStatus();
    *id = TokenId(*name);
    if (*id < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokenizer_config.json: ", what, " \"", *name, "\" is not a token"));
    }
    return absl::OkStatus();
  };
  if (auto s = named(names.bos, "bos_token", &bos_id_); !s.ok()) return s;
  if (auto s = named(names.eos, "eos_token", &eos_id_); !s.ok()) return s;
  if (bos_id_ < 0 && !spec_.prefix_ids.empty()) bos_id_ = spec_.prefix_ids[0];
  if (eos_id_ < 0 && !spec_.suffix_ids.empty()) {
    eos_id_ = spec_.suffix_ids.back();
  }
  auto first_added = [&](std::initializer_list<const char*> candidates) {
    for (const char* c : candidates) {
      for (const AddedToken& t : spec_.added_tokens) {
        if (t.content == c) return t.id;
      }
    }
    return -1;
  };
  if (bos_id_ < 0 && !names.bos.has_value()) {
    bos_id_ = first_added({"<|begin_of_text|>", "<s>", "<bos>"});
  }
  if (eos_id_ < 0) {
    eos_id_ =
        first_added({"<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>"});
  }
  if (eos_id_ < 0) {
    return absl::InvalidArgumentError(
        "no EOS token: tokenizer_config.json has no eos_token and no added "
        "token is <|end_of_text|>, <|endoftext|>, </s> or <eos>");
  }
  return absl::OkStatus();
}

void HfTokenizer::EncodePlain(std::string_view text, bool at_text_start,
                              bool parse_special,
                              const std::vector<ByteRange>& plain,
                              std::vector<int>* out) const {
  const std::string normalized = spec_.normalizer.empty()
                                     ? std::string(text)
                                     : spec_.normalizer.Normalize(text);
  // Normalizing moves bytes, so plain ranges hold for the normalized text
  // only without a normalizer; with one, a piece that has plain text in it
  // gets no normalized tokens at all (they exist in SentencePiece-style
  // files only, whose special tokens are not normalized).
  const bool match = parse_special && !normalized_matcher_.empty() &&
                     (plain.empty() || spec_.normalizer.empty());
  std::vector<AddedTokenMatcher::Piece> pieces;
  if (match) {
    pieces = normalized_matcher_.Split(normalized, plain);
  } else if (!normalized.empty()) {
    pieces.push_back({normalized, -1});
  }
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (pieces[i].id >= 0) {
      out->push_back(pieces[i].id);
      continue;
    }
    for (const std::string& word : spec_.pre_tokenizer.PreTokenize(
             pieces[i].text, at_text_start && i == 0)) {
      spec_.model.EncodeWord(word, out);
    }
  }
}

std::vector<int> HfTokenizer::Encode(std::string_view text,
                                     bool add_bos) const {
  EncodeOptions options;
  options.add_special_tokens = add_bos;
  return EncodeWithOptions(text, options);
}

std::vector<int> HfTokenizer::EncodeWithOptions(
    std::string_view text, const EncodeOptions& options) const {
  std::vector<int> ids;
  if (options.add_special_tokens) {
    ids.insert(ids.end(), spec_.prefix_ids.begin(), spec_.prefix_ids.end());
  }
  if (!options.parse_special || raw_matcher_.empty()) {
    EncodePlain(text, true, options.parse_special, options.plain_text, &ids);
  } else {
    for (const AddedTokenMatcher::Piece& p :
         raw_matcher_.Split(text, options.plain_text)) {
      if (p.id >= 0) {
        ids.push_back(p.id);
        continue;
      }
      const size_t begin = static_cast<size_t>(p.text.data() - text.data());
      EncodePlain(
          p.text, begin == 0, true,
          RangesWithin(options.plain_text, begin, begin + p.text.size()), &ids);
    }
  }
  if (options.add_special_tokens) {
    ids.insert(ids.end(), spec_.suffix_ids.begin(), spec_.suffix_ids.end());
  }
  return ids;
}

std::string HfTokenizer::DecodeToken(int prev_id, int id) const {
  if (id < 0 || id >= vocab_size_) return "";
  const bool first =
      prev_id < 0 || prev_id >= vocab_size_ || (prev_id == bos_id_);
  if (first && !decoded_first_.empty()) return decoded_first_[id];
  return decoded_[id];
}

std::string HfTokenizer::Decode(const std::vector<int>& ids) const {
  std::string text;
  int prev = -1;
  for (int id : ids) {
    text += DecodeToken(prev, id);
    prev = id;
  }
  return text;
}

}  // namespace headroom::runtime
