// Tokenizers: llama2.c's tokenizer.bin against the llama2.c reference vectors
// and against SentencePiece on the same LLaMA 2 vocabulary, synthetic
// vocabularies for the merge rules, bad files, and out-of-range ids.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/escaping.h"
#include "runtime/tokenizers/llama2c_tokenizer.h"
#include "runtime/tokenizers/sentencepiece_tokenizer.h"
#include "runtime/tokenizers/tokenizer.h"
#include "tests/reference_encoder.h"
#include "tests/test_support.h"

namespace headroom::runtime {
namespace {

using ::headroom::testing::MakeTempDir;
using ::headroom::testing::ReadJsonFile;
using ::headroom::testing::ReadTextFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTok512[] = "models/stories260K/tok512.bin";
constexpr char kLlamaBin[] = "models/llama2-tokenizer/tokenizer.bin";
constexpr char kLlamaModel[] = "models/llama2-tokenizer/tokenizer.model";

std::string Escaped(const std::string& s) { return absl::CEscape(s); }

std::string WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// ---------------------------------------------------------------------------
// Synthetic tokenizer.bin files.

struct Entry {
  std::string piece;
  float score;
};

void AppendInt32(std::string& out, int32_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}

std::string TokenizerBytes(const std::vector<Entry>& entries,
                           int32_t max_token_length = 16) {
  std::string out;
  AppendInt32(out, max_token_length);
  for (const Entry& e : entries) {
    out.append(reinterpret_cast<const char*>(&e.score), sizeof(e.score));
    AppendInt32(out, static_cast<int32_t>(e.piece.size()));
    out += e.piece;
  }
  return out;
}

// The 259 entries every llama2.c vocabulary starts with, as the export
// writes them: <unk>, BOS, EOS, then the byte pieces.
std::vector<Entry> BaseEntries() {
  std::vector<Entry> e = {{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    e.push_back({std::string("<0x") + hex[b / 16] + hex[b % 16] + ">", 0});
  }
  return e;
}

constexpr int kBase = 259;  // first id after BaseEntries()

std::unique_ptr<Llama2cTokenizer> FromEntries(const std::vector<Entry>& extra) {
  std::vector<Entry> all = BaseEntries();
  all.insert(all.end(), extra.begin(), extra.end());
  auto tok = Llama2cTokenizer::FromBytes(TokenizerBytes(all), 0, "synthetic");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? std::move(*tok) : nullptr;
}

// Random test strings: words, runs of spaces, control characters,
// multi-byte characters from several scripts, and (when `raw_bytes`) bytes
// that are not valid UTF-8 and U+2581: the two inputs on which llama2.c and
// sentencepiece differ (see MalformedUtf8IsWhereTheyDiffer and
// LiteralWordBoundaryMarkReadsAsSpaceInSentencePiece).
std::string RandomText(std::mt19937& rng, bool raw_bytes) {
  // clang-format off
  static const std::vector<std::string> kParts = {
      "the", " cat", "Once", " upon", "a", " ", "  ", "   ", "\t", "\n",
      "\r\n", ",", ".", "!", "42", "0", "é", "ß", "Ж", "ый", "中", "文",
      "日本", "한", "ع", "ש", "न", "🙂", "👍🏽", "€", "<0x41>", "<unk>", "<s>",
      "Max", " dog", "named", "little"};
  // clang-format on
  std::string s;
  const int n = static_cast<int>(rng() % 24);
  for (int i = 0; i < n; ++i) {
    if (raw_bytes && rng() % 6 == 0) {
      s += static_cast<char>(rng() % 256);
    } else if (raw_bytes && rng() % 10 == 0) {
      s += "\xE2\x96\x81";  // U+2581, which sentencepiece reads as a space
    } else {
      s += kParts[rng() % kParts.size()];
    }
  }
  return s;
}

// ---------------------------------------------------------------------------
// stories260K's tok512.bin against the llama2.c reference vectors.

TEST(Llama2cTokenizerTest, EncodesReferencePromptLikeRunC) {
  HEADROOM_REQUIRE_SHARED(tok_path, kTok512);
  HEADROOM_REQUIRE_SHARED(json_path, "testdata/stories260K_logits.json");
  const nlohmann::json ref = ReadJsonFile(json_path);
  const auto expected = ref["tokens"].get<std::vector<int>>();
  const auto prompt = ref["prompt"].get<std::string>();
  ASSERT_EQ(prompt, "Once upon a time, there was a little dog named Max");
  // The ids the brief quotes, to catch a changed reference file.
  ASSERT_THAT(expected, ElementsAre(1, 403, 407, 261, 378, 432, 383, 286, 261,
                                    376, 400, 428, 395, 392, 412, 444));

  auto tok = LoadTokenizer(tok_path, 512);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), 512);
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
  EXPECT_EQ((*tok)->Encode(prompt, ref["bos"].get<bool>()), expected);
  EXPECT_EQ((*tok)->Decode(expected), prompt);
}

TEST(Llama2cTokenizerTest, GreedyMaxPromptTokensMatchReference) {
  HEADROOM_REQUIRE_SHARED(tok_path, kTok512);
  HEADROOM_REQUIRE_SHARED(json_path, "testdata/stories260K_greedy_max.json");
  const nlohmann::json ref = ReadJsonFile(json_path);
  auto tok = LoadTokenizer(tok_path, 512);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(
      (*tok)->Encode(ref["prompt"].get<std::string>(), ref["bos"].get<bool>()),
      ref["prompt_tokens"].get<std::vector<int>>());
}

TEST(Llama2cTokenizerTest, DecodesGreedyGenerationLikeRunC) {
  HEADROOM_REQUIRE_SHARED(tok_path, kTok512);
  HEADROOM_REQUIRE_SHARED(json_path, "testdata/stories260K_greedy_bos.json");
  HEADROOM_REQUIRE_SHARED(txt_path, "testdata/stories260K_greedy_bos.txt");
  const nlohmann::json ref = ReadJsonFile(json_path);
  const auto prompt = ref["prompt_tokens"].get<std::vector<int>>();
  const auto generated = ref["generated_tokens"].get<std::vector<int>>();
  ASSERT_THAT(prompt, ElementsAre(1));
  ASSERT_EQ(generated.size(), 200u);

  // The .txt is run.c's stdout, which ends with the newline run.c prints
  // after generating; no generated token is a newline (<0x0A> = 13) at the
  // end, so that last '\n' is not part of the decoded text.
  std::string expected = ReadTextFile(txt_path);
  ASSERT_FALSE(expected.empty());
  ASSERT_EQ(expected.back(), '\n');
  ASSERT_NE(generated.back(), 13);
  expected.pop_back();

  auto tok = LoadTokenizer(tok_path, 512);
  ASSERT_TRUE(tok.ok()) << tok.status();
  std::vector<int> all = prompt;
  all.insert(all.end(), generated.begin(), generated.end());
  EXPECT_EQ((*tok)->Decode(all), expected);
  // Decode starts as if after BOS, so the generated ids alone read the same.
  EXPECT_EQ((*tok)->Decode(generated), expected);
  // Streaming: DecodeToken one id at a time, as the engine does.
  std::string streamed;
  int prev = prompt.back();
  for (int id : generated) {
    streamed += (*tok)->DecodeToken(prev, id);
    prev = id;
  }
  EXPECT_EQ(streamed, expected);
}

TEST(Llama2cTokenizerTest, MatchesRunCReferenceOnRandomText) {
  HEADROOM_REQUIRE_SHARED(tok_path, kTok512);
  auto tok = Llama2cTokenizer::Load(tok_path, 512);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const ::headroom::testing::ReferenceEncoder ref(**tok);
  std::mt19937 rng(512);
  for (int i = 0; i < 2000; ++i) {
    const std::string s = RandomText(rng, /*raw_bytes=*/true);
    const bool bos = i % 2 == 0;
    SCOPED_TRACE(Escaped(s));
    const std::vector<int> ids = (*tok)->Encode(s, bos);
    ASSERT_EQ(ids, ref.Encode(s, bos));
    ASSERT_EQ((*tok)->Decode(ids), s);
  }
}

TEST(Llama2cTokenizerTest, MatchesRunCReferenceOnTinyStories) {
  HEADROOM_REQUIRE_SHARED(tok_path, kTok512);
  HEADROOM_REQUIRE_SHARED(data_path, "data/tinystories_val.txt");
  auto tok = Llama2cTokenizer::Load(tok_path, 512);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const ::headroom::testing::ReferenceEncoder ref(**tok);
  std::ifstream in(data_path);
  std::string line;
  for (int n = 0; n < 100 && std::getline(in, line);) {
    if (line.empty()) continue;
    ++n;
    SCOPED_TRACE(line);
    const std::vector<int> ids = (*tok)->Encode(line, true);
    ASSERT_EQ(ids, ref.Encode(line, true));
    ASSERT_EQ((*tok)->Decode(ids), line);
  }
}

// ---------------------------------------------------------------------------
// The merge rules, on vocabularies small enough to reason about.

TEST(Llama2cTokenizerTest, EqualScoresMergeTheLeftmostPair) {
  auto tok =
      FromEntries({{" ", -1}, {"a", -1}, {"b", -1}, {"ab", -5}, {"ba", -5}});
  ASSERT_NE(tok, nullptr);
  const int space = kBase, a = kBase + 1, b = kBase + 2, ab = kBase + 3,
            ba = kBase + 4;
  EXPECT_THAT(tok->Encode("aba", false), ElementsAre(space, ab, a));
  EXPECT_THAT(tok->Encode("bab", false), ElementsAre(space, ba, b));
}

TEST(Llama2cTokenizerTest, HigherScoreWinsOverPosition) {
  auto tok =
      FromEntries({{" ", -1}, {"a", -1}, {"b", -1}, {"ab", -5}, {"ba", -4}});
  ASSERT_NE(tok, nullptr);
  const int space = kBase, a = kBase + 1, ba = kBase + 4;
  EXPECT_THAT(tok->Encode("aba", false), ElementsAre(space, a, ba));
}

TEST(Llama2cTokenizerTest, MergesRepeatUntilNoneApplies) {
  auto tok = FromEntries({{" ", -1},
                          {"a", -1},
                          {"b", -1},
                          {"ab", -3},
                          {" ab", -2},
                          {" abab", -1},
                          {"abab", -9}});
  ASSERT_NE(tok, nullptr);
  // " a b a b": "ab" twice (leftmost first), then " ab" + "ab" can only go
  // through " ab" (score -2) then " abab" (score -1).
  EXPECT_THAT(tok->Encode("abab", false), ElementsAre(kBase + 5));
}

TEST(Llama2cTokenizerTest, ScoresAtOrBelowRunCThresholdNeverMerge) {
  // run.c starts from best_score = -1e10 and needs a strictly greater score.
  auto tok = FromEntries({{" ", -1},
                          {"a", -1},
                          {"b", -1},
                          {"c", -1},
                          {"ab", -1e10f},
                          {"bc", -9.9e9f},
                          {"ca", std::numeric_limits<float>::quiet_NaN()}});
  ASSERT_NE(tok, nullptr);
  const int space = kBase, a = kBase + 1, b = kBase + 2, c = kBase + 3,
            bc = kBase + 5;
  EXPECT_THAT(tok->Encode("ab", false), ElementsAre(space, a, b));
  EXPECT_THAT(tok->Encode("bc", false), ElementsAre(space, bc));
  EXPECT_THAT(tok->Encode("ca", false), ElementsAre(space, c, a));
}

TEST(Llama2cTokenizerTest, RepeatedPieceUsesLowestId) {
  auto tok = FromEntries({{" ", -1}, {"a", -1}, {"a", -1}});
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(tok->Encode("aa", false),
              ElementsAre(kBase, kBase + 1, kBase + 1));
}

TEST(Llama2cTokenizerTest, BosTakesPartInMergesAsInRunC) {
  // run.c's merge loop scans the whole token array, BOS included.
  auto tok = FromEntries({{" ", -1}, {"x", -1}, {"\n<s>\n ", -1}});
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(tok->Encode("x", true), ElementsAre(kBase + 2, kBase + 1));
  EXPECT_THAT(tok->Encode("x", false), ElementsAre(kBase, kBase + 1));
}

TEST(Llama2cTokenizerTest, UnknownCodePointsFallBackToBytes) {
  auto tok = FromEntries({{" ", -1}, {"é", -1}});
  ASSERT_NE(tok, nullptr);
  // "é" is a piece; "ж" (D0 B6) is not; a stray continuation byte and a
  // truncated sequence stay bytes; NUL is a byte too (run.c would stop).
  EXPECT_THAT(tok->Encode(std::string("é\xD0\xB6\x80\xE4\0", 7), false),
              ElementsAre(kBase, kBase + 1, 3 + 0xD0, 3 + 0xB6, 3 + 0x80,
                          3 + 0xE4, 3 + 0x00));
  // run.c groups at most 4 bytes: a lead byte and 3 continuations.
  EXPECT_THAT(
      tok->Encode("\xF0\x9F\x99\x82\x80", false),
      ElementsAre(kBase, 3 + 0xF0, 3 + 0x9F, 3 + 0x99, 3 + 0x82, 3 + 0x80));
}

TEST(Llama2cTokenizerTest, EmptyTextHasNoDummyPrefix) {
  auto tok = FromEntries({{" ", -1}});
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(tok->Encode("", true), ElementsAre(1));
  EXPECT_THAT(tok->Encode("", false), ElementsAre());
  EXPECT_EQ(tok->Decode({}), "");
}

TEST(Llama2cTokenizerTest, DecodeTokenRules) {
  auto tok = FromEntries({{" ", -1}, {" hi", -1}, {" <0x41>", -1}});
  ASSERT_NE(tok, nullptr);
  const int space = kBase, hi = kBase + 1, odd = kBase + 2;
  const int byte_space = 3 + ' ';
  EXPECT_EQ(tok->DecodeToken(1, hi), "hi");  // space dropped after BOS
  EXPECT_EQ(tok->DecodeToken(hi, hi), " hi");
  EXPECT_EQ(tok->DecodeToken(1, space), "");
  // A byte piece's space is text, not a word boundary: kept after BOS.
  EXPECT_EQ(tok->DecodeToken(1, byte_space), " ");
  EXPECT_EQ(tok->DecodeToken(hi, 3 + 0xE4), "\xE4");
  EXPECT_EQ(tok->DecodeToken(hi, 3), std::string(1, '\0'));
  // run.c drops the space first, then reads the byte form.
  EXPECT_EQ(tok->DecodeToken(1, odd), "A");
  EXPECT_EQ(tok->DecodeToken(hi, odd), " <0x41>");
  // BOS and EOS are not text; <unk> is its piece, as in run.c.
  EXPECT_EQ(tok->DecodeToken(hi, 1), "");
  EXPECT_EQ(tok->DecodeToken(hi, 2), "");
  EXPECT_EQ(tok->DecodeToken(hi, 0), "<unk>");
  EXPECT_EQ(tok->Decode({1, hi, hi, 2}), "hi hi");
}

TEST(TokenizerTest, ParseBytePieceIsStrict) {
  EXPECT_EQ(ParseBytePiece("<0x0A>"), std::optional<unsigned char>(0x0A));
  EXPECT_EQ(ParseBytePiece("<0xff>"), std::optional<unsigned char>(0xFF));
  EXPECT_EQ(ParseBytePiece("<0x4>"), std::nullopt);
  EXPECT_EQ(ParseBytePiece("<0x4G>"), std::nullopt);
  EXPECT_EQ(ParseBytePiece("<0x41>x"), std::nullopt);
  EXPECT_EQ(ParseBytePiece(" <0x41>"), std::nullopt);
  EXPECT_EQ(ParseBytePiece(""), std::nullopt);
}

// ---------------------------------------------------------------------------
// The LLaMA 2 vocabulary in both formats.

class LlamaTokenizersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HEADROOM_REQUIRE_SHARED(bin_path, kLlamaBin);
    HEADROOM_REQUIRE_SHARED(model_path, kLlamaModel);
    if (bin_ == nullptr) {
      auto bin = LoadTokenizer(bin_path, 32000);
      ASSERT_TRUE(bin.ok()) << bin.status();
      bin_ = std::move(*bin);
      // libsentencepiece itself, and our protobuf-free reader of the same
      // .model file (what LoadTokenizer picks for BPE models).
      auto model = SentencePieceTokenizer::Load(model_path, 32000);
      ASSERT_TRUE(model.ok()) << model.status();
      model_ = std::move(*model);
      auto native = LoadTokenizer(model_path, 32000);
      ASSERT_TRUE(native.ok()) << native.status();
      ASSERT_NE(dynamic_cast<const Llama2cTokenizer*>(native->get()), nullptr);
      native_ = std::move(*native);
    }
  }
  static void TearDownTestSuite() {
    bin_.reset();
    model_.reset();
    native_.reset();
  }

  // Same ids from both, with and without BOS, and exact round trips.
  static void ExpectParity(const std::string& s) {
    SCOPED_TRACE(Escaped(s));
    for (bool bos : {true, false}) {
      const std::vector<int> ids = bin_->Encode(s, bos);
      EXPECT_EQ(ids, model_->Encode(s, bos)) << "bos " << bos;
      EXPECT_EQ(ids, native_->Encode(s, bos)) << "bos " << bos;
      EXPECT_EQ(bin_->Decode(ids), s) << "bos " << bos;
      EXPECT_EQ(model_->Decode(ids), s) << "bos " << bos;
      EXPECT_EQ(native_->Decode(ids), s) << "bos " << bos;
    }
  }

  static std::unique_ptr<Tokenizer> bin_;
  static std::unique_ptr<Tokenizer> model_;
  static std::unique_ptr<Tokenizer> native_;
};

std::unique_ptr<Tokenizer> LlamaTokenizersTest::bin_;
std::unique_ptr<Tokenizer> LlamaTokenizersTest::model_;
std::unique_ptr<Tokenizer> LlamaTokenizersTest::native_;

TEST_F(LlamaTokenizersTest, Basics) {
  EXPECT_EQ(bin_->vocab_size(), 32000);
  EXPECT_EQ(model_->vocab_size(), 32000);
  EXPECT_EQ(model_->bos_id(), 1);
  EXPECT_EQ(model_->eos_id(), 2);
  // Known ids (Hugging Face's LLaMA 2 tokenizer gives the same).
  EXPECT_THAT(model_->Encode("Hello world", true), ElementsAre(1, 15043, 3186));
}

TEST_F(LlamaTokenizersTest, SameIdsAndRoundTripOnVariedStrings) {
  const std::vector<std::string> cases = {
      "",
      "Hello world",
      "Once upon a time, there was a little dog named Max",
      "The quick brown fox jumps over the lazy dog.",
      "Don't stop believin'",
      "a",
      "x=1; y = 2*x + 3",
      "!@#$%^&*()_+-=[]{}|;':\",./<>?",
      "...",
      "-- --- —",
      "1234567890",
      "3.14159 -42 1e-5 0x1F",
      "2023-11-26T13:46:00Z",
      "https://example.com/path?query=1&b=2#frag",
      "C++20 std::vector<int> v{1, 2, 3};",
      "def f(x):\n    return x ** 2\n",
      " leading space",
      "  two leading spaces",
      "   three",
      "trailing space ",
      "trailing spaces   ",
      " ",
      "  ",
      "     ",
      "a  b   c    d",
      "tab\there",
      "\t\tindented",
      "new\nline",
      "\n",
      "\n\n\n",
      "line1\n\nline3\n",
      "crlf\r\nline",
      "\r",
      "form\ffeed and vertical\vtab",
      std::string("nul\0byte", 8),
      std::string(1, '\0'),
      "naïve café résumé",
      "Ünïcödé ß ÅÄÖ",
      "e\xCC\x81 (combining acute)",
      "Привет, мир!",
      "Ελληνικά και русский",
      "你好，世界",
      "中文字符测试，包括标点符号。",
      "こんにちは世界",
      "カタカナ ひらがな 漢字",
      "안녕하세요",
      "مرحبا بالعالم",
      "שלום עולם",
      "नमस्ते दुनिया",
      "สวัสดีครับ",
      "€100 £50 ¥1000",
      "🙂🎉👍🏽 emoji",
      "😀😃😄😁",
      "👨‍👩‍👧‍👦 family, 🇺🇸 flag",
      "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters",
      "ﬁne ligature, ＡＢＣ full width, ① circled",
      "nbsp\xC2\xA0here, ideographic\xE3\x80\x80space",
      "zero\xE2\x80\x8Bwidth",
      "\xEF\xBB\xBF"
      "byte order mark",
      "<0x41> <unk> <s></s>",
      "Mixed: English, Русский, 日本語, العربية, 🙂!",
  };
  ASSERT_GE(cases.size(), 50u);
  for (const std::string& s : cases) ExpectParity(s);
}

TEST_F(LlamaTokenizersTest, SameIdsOnWikitextParagraphs) {
  HEADROOM_REQUIRE_SHARED(data_path, "data/wikitext2_raw_test.txt");
  const std::string text = ReadTextFile(data_path);
  // Lines end in CRLF; take the long paragraphs as they are (the '\r' kept),
  // and one 64 KiB slice that spans many lines.
  int paragraphs = 0;
  size_t start = 0;
  while (paragraphs < 20 && start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (line.size() > 400) {
      ExpectParity(line);
      ++paragraphs;
    }
    start = end + 1;
  }
  EXPECT_EQ(paragraphs, 20);
  ExpectParity(text.substr(0, 64 * 1024));
}

TEST_F(LlamaTokenizersTest, SameIdsOnRandomValidText) {
  std::mt19937 rng(32000);
  for (int i = 0; i < 500; ++i) ExpectParity(RandomText(rng, false));
}

TEST_F(LlamaTokenizersTest, Llama2cMatchesRunCReference) {
  const ::headroom::testing::ReferenceEncoder ref(
      static_cast<const Llama2cTokenizer&>(*bin_));
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    const std::string s = RandomText(rng, /*raw_bytes=*/true);
    SCOPED_TRACE(Escaped(s));
    ASSERT_EQ(bin_->Encode(s, true), ref.Encode(s, true));
  }
}

// The two classes of input where the two differ. The first: bytes that are
// not valid UTF-8. llama2.c keeps each such byte as a byte token, so it
// round-trips; sentencepiece's normalizer turns each into U+FFFD first. (Valid
// UTF-8, which is all a proto3 string field can carry, agrees.)
TEST_F(LlamaTokenizersTest, MalformedUtf8IsWhereTheyDiffer) {
  const std::string kReplacement = "\xEF\xBF\xBD";
  struct Case {
    std::string text;
    std::string sentencepiece_reads;
  };
  const std::vector<Case> cases = {
      {"\xFF", kReplacement},
      {"\xFF\xFE bad", kReplacement + kReplacement + " bad"},
      {"\x80 stray", kReplacement + " stray"},
      {"\xE4\xBD lonely", kReplacement + kReplacement + " lonely"},
      {"ok \xC3", "ok " + kReplacement},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(Escaped(c.text));
    const std::vector<int> llama2c = bin_->Encode(c.text, true);
    const std::vector<int> sp = model_->Encode(c.text, true);
    EXPECT_NE(llama2c, sp);
    EXPECT_EQ(bin_->Decode(llama2c), c.text);
    EXPECT_EQ(model_->Decode(sp), c.sentencepiece_reads);
    // What sentencepiece saw is valid UTF-8, on which the two agree.
    EXPECT_EQ(bin_->Encode(c.sentencepiece_reads, true), sp);
  }
}

// The second: U+2581 "▁" itself. sentencepiece escapes spaces as U+2581
// before encoding, so a literal U+2581 in the text is indistinguishable from
// a space and decodes as one. llama2.c's export turned every "▁" in the
// vocabulary into ' ', so U+2581 is no piece there and becomes its three
// byte tokens, which round-trip.
TEST_F(LlamaTokenizersTest,
       LiteralWordBoundaryMarkReadsAsSpaceInSentencePiece) {
  const std::string kMark = "\xE2\x96\x81";
  for (const std::string& text :
       {kMark, kMark + " literal", "a" + kMark + "b", "end " + kMark + kMark}) {
    SCOPED_TRACE(Escaped(text));
    std::string as_spaces = text;
    for (size_t pos; (pos = as_spaces.find(kMark)) != std::string::npos;) {
      as_spaces.replace(pos, kMark.size(), " ");
    }
    const std::vector<int> llama2c = bin_->Encode(text, true);
    const std::vector<int> sp = model_->Encode(text, true);
    EXPECT_NE(llama2c, sp);
    EXPECT_EQ(bin_->Decode(llama2c), text);
    EXPECT_EQ(model_->Decode(sp), as_spaces);
    EXPECT_EQ(bin_->Encode(as_spaces, true), sp);
  }
}

TEST_F(LlamaTokenizersTest, DecodeTokenAgreesForEveryId) {
  // Incremental detokenization must read the same with either file.
  for (int id = 0; id < 32000; ++id) {
    for (int prev : {1, 2, 29871, 3}) {
      ASSERT_EQ(bin_->DecodeToken(prev, id), model_->DecodeToken(prev, id))
          << "prev " << prev << " id " << id;
    }
  }
}

// ---------------------------------------------------------------------------
// Out-of-range ids.

TEST_F(LlamaTokenizersTest, DecodeNeverFailsOnOutOfRangeIds) {
  const std::vector<int> bad = {-1, INT_MIN, INT_MAX, 32000, 32001, 1 << 20};
  for (const Tokenizer* tok : {bin_.get(), model_.get()}) {
    for (int id : bad) {
      EXPECT_EQ(tok->DecodeToken(1, id), "") << id;
      EXPECT_EQ(tok->DecodeToken(id, 15043), " Hello") << id;
    }
    std::vector<int> ids;
    for (int id : bad) ids.push_back(id);
    ids.push_back(15043);
    for (int id : bad) ids.push_back(id);
    // The out-of-range id before "▁Hello" is not BOS, so its space stays.
    EXPECT_EQ(tok->Decode(ids), " Hello");
    EXPECT_EQ(tok->Decode({15043}), "Hello");
  }
}

TEST(Llama2cTokenizerTest, DecodeNeverFailsOnAnyIdSequence) {
  auto tok = FromEntries({{" ", -1}, {" x", -1}});
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(1);
  for (int i = 0; i < 1000; ++i) {
    std::vector<int> ids(rng() % 8);
    for (int& id : ids) id = static_cast<int>(rng());
    ids.push_back(tok->vocab_size() + static_cast<int>(rng() % 4));
    (void)tok->Decode(ids);
  }
  EXPECT_EQ(tok->DecodeToken(INT_MIN, INT_MAX), "");
}

// ---------------------------------------------------------------------------
// Load errors.

TEST(TokenizerLoadTest, MissingFile) {
  const std::string dir = MakeTempDir("missing");
  for (const std::string name : {"nope.bin", "nope.model"}) {
    auto tok = LoadTokenizer(dir + "/" + name, 0);
    ASSERT_FALSE(tok.ok());
    EXPECT_TRUE(absl::IsNotFound(tok.status())) << tok.status();
    EXPECT_THAT(std::string(tok.status().message()), HasSubstr(name));
  }
}

TEST(TokenizerLoadTest, TruncatedTokenizerBin) {
  HEADROOM_REQUIRE_SHARED(tok_path, kTok512);
  const std::string full = ReadTextFile(tok_path);
  const std::string dir = MakeTempDir("truncated");
  // Cut inside the last entry (its piece), and inside an entry's header.
  const std::string cut_piece =
      WriteFile(dir + "/cut_piece.bin", full.substr(0, full.size() - 1));
  auto tok = LoadTokenizer(cut_piece, 512);
  ASSERT_FALSE(tok.ok());
  EXPECT_TRUE(absl::IsDataLoss(tok.status())) << tok.status();
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("cut_piece.bin"));
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("token 511"));

  const std::string cut_header =
      WriteFile(dir + "/cut_header.bin", full.substr(0, 4 + 8 + 5 + 3));
  tok = LoadTokenizer(cut_header, 512);
  ASSERT_FALSE(tok.ok());
  EXPECT_TRUE(absl::IsDataLoss(tok.status())) << tok.status();
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("token 1"));

  const std::string tiny = WriteFile(dir + "/tiny.bin", "ab");
  tok = LoadTokenizer(tiny, 0);
  ASSERT_FALSE(tok.ok());
  EXPECT_TRUE(absl::IsDataLoss(tok.status())) << tok.status();
}

TEST(TokenizerLoadTest, NegativeAndHugeLengths) {
  std::string bytes = TokenizerBytes(BaseEntries());
  std::string negative = bytes;
  AppendInt32(negative, 0);  // score
  AppendInt32(negative, -5);
  auto tok = Llama2cTokenizer::FromBytes(negative, 0, "neg.bin");
  ASSERT_FALSE(tok.ok());
  EXPECT_TRUE(absl::IsDataLoss(tok.status())) << tok.status();
  EXPECT_THAT(std::string(tok.status().message()),
              HasSubstr("neg.bin: token 259 has negative length -5"));

  std::string huge = bytes;
  AppendInt32(huge, 0);
  AppendInt32(huge, INT32_MAX);
  huge += "abc";
  tok = Llama2cTokenizer::FromBytes(huge, 0, "huge.bin");
  ASSERT_FALSE(tok.ok());
  EXPECT_TRUE(absl::IsDataLoss(tok.status())) << tok.status();
  EXPECT_THAT(std::string(tok.status().message()),
              HasSubstr("huge.bin: token 259 has length 2147483647"));

  std::string negative_max;
  AppendInt32(negative_max, -1);
  tok = Llama2cTokenizer::FromBytes(negative_max, 0, "hdr.bin");
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(std::string(tok.status().message()),
              HasSubstr("negative max_token_length"));
}

TEST(TokenizerLoadTest, VocabSizeMismatch) {
  HEADROOM_REQUIRE_SHARED(tok_path, kTok512);
  for (int expected : {511, 1000}) {
    auto tok = LoadTokenizer(tok_path, expected);
    ASSERT_FALSE(tok.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(tok.status())) << tok.status();
    EXPECT_THAT(std::string(tok.status().message()), HasSubstr("512"));
    EXPECT_THAT(std::string(tok.status().message()),
                HasSubstr(std::to_string(expected)));
  }
  // 0 means "do not check".
  auto tok = LoadTokenizer(tok_path, 0);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), 512);
  EXPECT_FALSE(LoadTokenizer(tok_path, -512).ok());
}

// headroom-tiny's SentencePiece model (512 pieces): runs without ../shared.
TEST(TokenizerLoadTest, VocabSizeMismatchForSentencePiece) {
  const std::string model_path =
      ::headroom::testing::EmbeddedModelPath() + "/tokenizer.model";
  auto tok = LoadTokenizer(model_path, 513);
  ASSERT_FALSE(tok.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(tok.status())) << tok.status();
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("512"));
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("513"));
}

TEST(TokenizerLoadTest, JunkAfterTheExpectedTokensIsAMismatch) {
  std::vector<Entry> entries = BaseEntries();
  entries.push_back({" ", -1});
  std::string bytes = TokenizerBytes(entries) + "junk";
  auto tok = Llama2cTokenizer::FromBytes(bytes, 260, "junk.bin");
  ASSERT_FALSE(tok.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(tok.status())) << tok.status();
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("260"));
}

TEST(TokenizerLoadTest, StructuralRequirements) {
  // Byte pieces, but too few entries for all 256 of them.
  auto tok = Llama2cTokenizer::FromBytes(TokenizerBytes({{"<unk>", 0},
                                                         {"\n<s>\n", 0},
                                                         {"\n</s>\n", 0},
                                                         {"<0x00>", 0},
                                                         {" ", 0}}),
                                         0, "small.bin");
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("at least 259"));
  // Not even <unk>, BOS and EOS.
  tok = Llama2cTokenizer::FromBytes(TokenizerBytes({{" ", 0}}), 0, "two.bin");
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(std::string(tok.status().message()),
              HasSubstr("two.bin has 1 tokens"));
  // A byte piece out of place.
  std::vector<Entry> entries = BaseEntries();
  entries[3 + 0x41].piece = "A";
  entries.push_back({" ", -1});
  tok = Llama2cTokenizer::FromBytes(TokenizerBytes(entries), 0, "bytes.bin");
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("token 68"));
  // No " " piece for the dummy prefix.
  tok = Llama2cTokenizer::FromBytes(TokenizerBytes(BaseEntries()), 0,
                                    "nospace.bin");
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("dummy prefix"));
}

// A valid vocabulary of single characters and merges without any byte piece
// (as some small community models ship): it loads, merges as usual, and a
// code point that is not a piece becomes <unk> since there is no byte
// fallback.
TEST(TokenizerLoadTest, VocabularyWithoutBytePiecesLoads) {
  const std::vector<Entry> entries = {
      {"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}, {"\n", 0},
      {" ", 0},     {"a", 0},       {"b", 0},        {"c", 0},
      {" a", 1},    {"ab", 2},      {" ab", 3}};
  const std::string dir = MakeTempDir("nobytes");
  const std::string path =
      WriteFile(dir + "/tok11.bin", TokenizerBytes(entries));
  auto loaded = LoadTokenizer(path, 11);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Tokenizer& tok = **loaded;
  const auto* llama2c = dynamic_cast<const Llama2cTokenizer*>(&tok);
  ASSERT_NE(llama2c, nullptr);
  EXPECT_FALSE(llama2c->byte_fallback());
  // " a b \n c": "ab" (score 2) merges first, then " ab" (score 3).
  EXPECT_THAT(tok.Encode("ab\nc", false), ElementsAre(10, 3, 7));
  EXPECT_EQ(tok.Decode(tok.Encode("ab\nc", true)), "ab\nc");
  EXPECT_THAT(tok.Encode("c", true), ElementsAre(1, 4, 7));
  // Unknown code points (one- and two-byte) are one <unk> each, never an
  // id that stands for another character (run.c's byte + 3 would give "\n"
  // for 0x00 and ids past the vocabulary for most bytes).
  EXPECT_THAT(tok.Encode("a\xC3\xA9z", false), ElementsAre(8, 0, 0));
  EXPECT_EQ(tok.Decode({8, 0}), "a<unk>");
  for (int id : tok.Encode(std::string("\0\xFF\x80 zz", 7), true)) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 11);
  }
}

// Protobuf wire format by hand: a varint, a key, a length-delimited field.
std::string Varint(uint64_t v) {
  std::string out;
  do {
    out += static_cast<char>((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
    v >>= 7;
  } while (v != 0);
  return out;
}
std::string LengthDelimited(int field, const std::string& bytes) {
  return Varint(uint64_t(field) << 3 | 2) + Varint(bytes.size()) + bytes;
}
std::string VarintField(int field, uint64_t v) {
  return Varint(uint64_t(field) << 3) + Varint(v);
}

// A ModelProto: pieces (field 1: piece 1, score 2 as fixed32) and a
// TrainerSpec (field 2) with model_type (3) and byte_fallback (35).
std::string SentencePieceModelBytes(int model_type, bool byte_fallback) {
  std::string model;
  for (const char* piece : {"<unk>", "<s>", "</s>",
                            "\xE2\x96\x81"
                            "a",
                            "b"}) {
    const float score = -1.0f;
    std::string fixed(4, '\0');
    std::memcpy(fixed.data(), &score, 4);
    model += LengthDelimited(
        1, LengthDelimited(1, piece) + Varint(2 << 3 | 5) + fixed);
  }
  std::string trainer = VarintField(3, model_type);
  if (byte_fallback) trainer += VarintField(35, 1);
  model += LengthDelimited(2, trainer);
  // NormalizerSpec: identity, dummy prefix on, extra whitespace kept.
  model += LengthDelimited(3, LengthDelimited(1, "identity") +
                                  VarintField(3, 1) + VarintField(4, 0));
  return model;
}

// Models libsentencepiece would be needed for are refused by name, never
// handed to it (it aborts inside headroom-server).
TEST(TokenizerLoadTest, NonBpeSentencePieceModelIsRefused) {
  const std::string dir = MakeTempDir("unigram");
  const std::string unigram =
      WriteFile(dir + "/uni.model", SentencePieceModelBytes(1, true));
  auto tok = LoadTokenizer(unigram, 0);
  ASSERT_FALSE(tok.ok());
  EXPECT_TRUE(absl::IsUnimplemented(tok.status())) << tok.status();
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("uni.model"));
  EXPECT_THAT(std::string(tok.status().message()),
              HasSubstr("model type UNIGRAM"));

  const std::string no_bytes =
      WriteFile(dir + "/bpe.model", SentencePieceModelBytes(2, false));
  tok = LoadTokenizer(no_bytes, 0);
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("bpe.model"));
  EXPECT_THAT(std::string(tok.status().message()),
              HasSubstr("model type BPE (2): byte_fallback is off"));
}

TEST(TokenizerLoadTest, CorruptSentencePieceModel) {
  const std::string dir = MakeTempDir("corrupt");
  const std::string garbage =
      WriteFile(dir + "/garbage.model", "this is not a protobuf \xFF\xFF\xFF");
  auto tok = LoadTokenizer(garbage, 0);
  ASSERT_FALSE(tok.ok());
  EXPECT_TRUE(absl::IsDataLoss(tok.status())) << tok.status();
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr("garbage.model"));

  const std::string empty = WriteFile(dir + "/empty.model", "");
  tok = LoadTokenizer(empty, 0);
  EXPECT_FALSE(tok.ok());

  // A real model (headroom-tiny's) cut in half.
  const std::string full = ReadTextFile(
      ::headroom::testing::EmbeddedModelPath() + "/tokenizer.model");
  ASSERT_GT(full.size(), 1000u);
  const std::string cut =
      WriteFile(dir + "/cut.model", full.substr(0, full.size() / 2));
  tok = LoadTokenizer(cut, 512);
  ASSERT_FALSE(tok.ok());
  EXPECT_TRUE(absl::IsDataLoss(tok.status())) << tok.status();
}

// ---------------------------------------------------------------------------
// FindTokenizerFor.

TEST(FindTokenizerForTest, EmptyDirectoryIsNotFound) {
  const std::string dir = MakeTempDir("empty");
  auto found = FindTokenizerFor(dir);
  ASSERT_FALSE(found.ok());
  EXPECT_TRUE(absl::IsNotFound(found.status())) << found.status();
  const std::string message(found.status().message());
  EXPECT_THAT(message, HasSubstr(dir));
  EXPECT_THAT(message, HasSubstr("tokenizer.model"));
  EXPECT_THAT(message, HasSubstr("tokenizer.bin"));
  EXPECT_THAT(message, HasSubstr("tok*.bin"));
  // A model file in that directory: same answer.
  WriteFile(dir + "/model.bin", "x");
  found = FindTokenizerFor(dir + "/model.bin");
  EXPECT_TRUE(absl::IsNotFound(found.status())) << found.status();
}

TEST(FindTokenizerForTest, PreferenceOrder) {
  const std::string dir = MakeTempDir("order");
  WriteFile(dir + "/model.bin", "x");
  WriteFile(dir + "/tok512.bin", "x");
  EXPECT_EQ(FindTokenizerFor(dir + "/model.bin").value_or(""),
            dir + "/tok512.bin");
  EXPECT_EQ(FindTokenizerFor(dir).value_or(""), dir + "/tok512.bin");
  WriteFile(dir + "/tokenizer.bin", "x");
  EXPECT_EQ(FindTokenizerFor(dir + "/model.bin").value_or(""),
            dir + "/tokenizer.bin");
  WriteFile(dir + "/tokenizer.model", "x");
  EXPECT_EQ(FindTokenizerFor(dir).value_or(""), dir + "/tokenizer.model");
}

TEST(FindTokenizerForTest, SeveralTokBinsAreAmbiguous) {
  const std::string dir = MakeTempDir("ambiguous");
  WriteFile(dir + "/tok512.bin", "x");
  WriteFile(dir + "/tok4096.bin", "x");
  auto found = FindTokenizerFor(dir);
  ASSERT_FALSE(found.ok());
  EXPECT_TRUE(absl::IsNotFound(found.status())) << found.status();
  EXPECT_THAT(std::string(found.status().message()),
              HasSubstr("tok4096.bin, tok512.bin"));
}

TEST(FindTokenizerForTest, FindsTheSharedTokenizers) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(tok, kTok512);
  EXPECT_EQ(FindTokenizerFor(model).value_or(""), tok);
  HEADROOM_REQUIRE_SHARED(llama_dir, "models/llama2-tokenizer");
  HEADROOM_REQUIRE_SHARED(llama_model, kLlamaModel);
  EXPECT_EQ(FindTokenizerFor(llama_dir).value_or(""), llama_model);
}

}  // namespace
}  // namespace headroom::runtime
