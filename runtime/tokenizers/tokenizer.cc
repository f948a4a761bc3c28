#include "runtime/tokenizers/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/tokenizers/hf_tokenizer.h"
#include "runtime/tokenizers/llama2c_tokenizer.h"
#include "runtime/tokenizers/sentencepiece_bpe_reader.h"

namespace headroom::runtime {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<unsigned char> ParseBytePiece(std::string_view piece) {
  // run.c uses sscanf("<0x%02hhX>"), which also accepts prefixes such as
  // "<0x4"; no real vocabulary has those, and a strict match keeps ordinary
  // pieces that merely start with "<0x" from turning into bytes.
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece[5] != '>') {
    return std::nullopt;
  }
  const int hi = HexDigit(piece[3]);
  const int lo = HexDigit(piece[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<unsigned char>(hi * 16 + lo);
}

std::string Tokenizer::Decode(const std::vector<int>& ids) const {
  // Start as if a BOS came first. Encode puts a dummy-prefix space in front
  // of the text whether or not it adds BOS, and DecodeToken drops a piece's
  // leading space only after BOS; starting from BOS drops that dummy space in
  // both cases, so Decode(Encode(s, b)) == s for either b, leading spaces of
  // `s` included (only the one added space is removed). A sequence that
  // starts with BOS is unaffected: BOS decodes to "" and stays `prev`.
  std::string text;
  int prev = bos_id();
  for (int id : ids) {
    text += DecodeToken(prev, id);
    prev = id;
  }
  return text;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(
    const std::string& path, int vocab_size) {
  if (absl::EndsWith(path, ".json")) {
    auto hf = HfTokenizer::Load(path);
    if (!hf.ok()) return hf.status();
    if (vocab_size > 0 && (*hf)->vocab_size() > vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer ", path, " has ", (*hf)->vocab_size(),
                       " ids but the model's vocab_size is ", vocab_size));
    }
    return std::unique_ptr<Tokenizer>(std::move(*hf));
  }
  if (absl::EndsWith(path, ".model")) {
    // Read without libsentencepiece (see sentencepiece_bpe_reader.h for
    // why); the models it cannot reproduce exactly are refused rather than
    // handed to libsentencepiece, which aborts inside headroom-server.
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return absl::NotFoundError(
          absl::StrCat("tokenizer ", path, " does not exist"));
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream contents;
    contents << in.rdbuf();
    if (!in || in.bad()) {
      return absl::DataLossError(absl::StrCat("cannot read tokenizer ", path));
    }
    auto bpe = ReadSentencePieceBpeModel(contents.str(), vocab_size, path);
    if (!bpe.ok()) return bpe.status();
    return std::unique_ptr<Tokenizer>(std::move(*bpe));
  }
  absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> tok =
      Llama2cTokenizer::Load(path, vocab_size);
  if (!tok.ok()) return tok.status();
  return std::unique_ptr<Tokenizer>(std::move(*tok));
}

absl::StatusOr<std::string> FindTokenizerFor(const std::string& model_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir(model_path);
  if (!fs::is_directory(dir, ec)) {
    dir = dir.parent_path();
    if (dir.empty()) dir = ".";
  }
  for (const char* name :
       {"tokenizer.json", "tokenizer.model", "tokenizer.bin"}) {
    const fs::path candidate = dir / name;
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
  }
  // llama2.c names small custom vocabularies tok<N>.bin (tok512.bin).
  std::vector<std::string> matches;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code file_ec;
    if (absl::StartsWith(name, "tok") && absl::EndsWith(name, ".bin") &&
        fs::is_regular_file(it->path(), file_ec)) {
      matches.push_back(name);
    }
  }
  if (matches.size() == 1) return (dir / matches[0]).string();
  if (matches.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "no tokenizer for ", model_path, " in ", dir.string(),
        ": tried tokenizer.json, tokenizer.model, tokenizer.bin and tok*.bin; "
        "pass the "
        "tokenizer path explicitly"));
  }
  // Several candidates: picking one would be a guess, so say which exist.
  // NotFound like the empty case, since no single tokenizer was found.
  std::sort(matches.begin(), matches.end());
  return absl::NotFoundError(absl::StrCat(
      "no single tokenizer for ", model_path, " in ", dir.string(),
      ": no tokenizer.json, tokenizer.model or tokenizer.bin, and several "
      "tok*.bin (",
      absl::StrJoin(matches, ", "), "); pass the tokenizer path explicitly"));
}

}  // namespace headroom::runtime
