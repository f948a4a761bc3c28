// libFuzzer target for the llama2.c tokenizer. The first input byte picks:
//   0: the loader on arbitrary bytes (then encode/decode if it loads);
//   1: a well-formed vocabulary built from the input (odd pieces, repeated
//      pieces, empty pieces, ties, NaN and threshold scores), then text
//      encoded with it, checked against a direct restatement of run.c's
//      quadratic encode() and for Decode(Encode(text)) == text;
//   2: tok512.bin from ../shared (when present) on arbitrary text and on
//      arbitrary int id sequences.
// Any crash, sanitizer report or failed check (abort) is a bug.
//
// tok512.bin is found through $HEADROOM_FUZZ_TOKENIZER, else
// HEADROOM_SHARED_DIR if compiled in, else ../shared relative to the working
// directory (scripts/test.sh runs fuzzers from the project root).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/tokenizers/llama2c_tokenizer.h"
#include "runtime/tokenizers/tokenizer.h"
#include "tests/reference_encoder.h"

namespace headroom::runtime {
namespace {

constexpr int kBase = 259;        // <unk>, BOS, EOS and the 256 byte pieces
constexpr size_t kMaxText = 512;  // keeps the quadratic reference fast

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tokenizer_decode_fuzz: %s\n", what);
    std::abort();
  }
}

// Reads bytes off the front of the input; 0 once it runs out.
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

void AppendInt32(std::string& out, int32_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}

void AppendEntry(std::string& out, std::string_view piece, float score) {
  out.append(reinterpret_cast<const char*>(&score), sizeof(score));
  AppendInt32(out, static_cast<int32_t>(piece.size()));
  out.append(piece);
}

// Decoding must never crash, whatever the ids; the result is not checked.
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

void CheckIdsInRange(const Tokenizer& tok, const std::vector<int>& ids) {
  for (int id : ids) {
    Check(id >= 0 && id < tok.vocab_size(), "Encode produced an invalid id");
  }
}

void FuzzLoader(std::string_view bytes) {
  auto tok = Llama2cTokenizer::FromBytes(bytes, 0, "fuzz");
  if (!tok.ok()) return;
  // A vocabulary that loads may still spell special pieces from text (e.g.
  // "<0x41>" out of "<0x4" + "1>"), so only range is checked here.
  const std::string_view text = bytes.substr(0, kMaxText);
  CheckIdsInRange(**tok, (*tok)->Encode(text, true));
  DecodeAnyIds(**tok, bytes);
}

void FuzzSyntheticVocab(std::string_view bytes) {
  Reader in(bytes);
  std::string file;
  AppendInt32(file, 16);
  AppendEntry(file, "<unk>", 0);
  AppendEntry(file, "\n<s>\n", 0);
  AppendEntry(file, "\n</s>\n", 0);
  for (int b = 0; b < 256; ++b) {
    char piece[8];
    std::snprintf(piece, sizeof(piece), "<0x%02X>", b);
    AppendEntry(file, piece, 0);
  }
  AppendEntry(file, " ", -1);
  const int n_pieces = in.Byte() % 64;
  for (int i = 0; i < n_pieces; ++i) {
    std::string piece(in.Take(in.Byte() % 8));
    // No '<' outside the special pieces: then no merge can spell <unk>, BOS,
    // EOS or a byte piece, and Decode(Encode(text)) == text must hold.
    for (char& c : piece) {
      if (c == '<') c = '{';
    }
    const uint8_t s = in.Byte();
    float score = -static_cast<float>(s % 16);  // many ties
    if (s == 255) score = std::numeric_limits<float>::quiet_NaN();
    if (s == 254) score = -1e10f;  // at run.c's threshold: never merged
    if (s == 253) score = std::numeric_limits<float>::infinity();
    AppendEntry(file, piece, score);
  }
  auto tok = Llama2cTokenizer::FromBytes(file, kBase + 1 + n_pieces, "synth");
  Check(tok.ok(), "a well-formed vocabulary failed to load");
  const bool bos = (in.Byte() & 1) != 0;
  const std::string_view text = in.Rest().substr(0, kMaxText);
  const std::vector<int> ids = (*tok)->Encode(text, bos);
  CheckIdsInRange(**tok, ids);
  Check(ids == ::headroom::testing::ReferenceEncoder(**tok).Encode(text, bos),
        "Encode differs from run.c's algorithm");
  Check((*tok)->Decode(ids) == text, "Decode(Encode(text)) != text");
}

const Tokenizer* SharedTokenizer() {
  static const std::unique_ptr<Tokenizer> tok = []() {
    std::string path;
    if (const char* env = std::getenv("HEADROOM_FUZZ_TOKENIZER")) {
      path = env;
    } else {
#ifdef HEADROOM_SHARED_DIR
      path =
          std::string(HEADROOM_SHARED_DIR) + "/models/stories260K/tok512.bin";
#else
      path = "../shared/models/stories260K/tok512.bin";
#endif
    }
    auto loaded = LoadTokenizer(path, 0);
    if (!loaded.ok()) {
      std::fprintf(stderr,
                   "tokenizer_decode_fuzz: %s absent or unreadable; mode 2 "
                   "does nothing (set HEADROOM_FUZZ_TOKENIZER)\n",
                   path.c_str());
      return std::unique_ptr<Tokenizer>();
    }
    return std::move(*loaded);
  }();
  return tok.get();
}

void FuzzSharedTokenizer(std::string_view bytes) {
  const Tokenizer* tok = SharedTokenizer();
  if (tok == nullptr) return;
  const std::string_view text = bytes.substr(0, 4096);
  for (bool bos : {true, false}) {
    const std::vector<int> ids = tok->Encode(text, bos);
    CheckIdsInRange(*tok, ids);
    Check(tok->Decode(ids) == text, "tok512: Decode(Encode(text)) != text");
  }
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
      headroom::runtime::FuzzLoader(rest);
      break;
    case 1:
      headroom::runtime::FuzzSyntheticVocab(rest);
      break;
    default:
      headroom::runtime::FuzzSharedTokenizer(rest);
      break;
  }
  return 0;
}
