// Unit tests of the tokenizer.json pieces (runtime/tokenizers/hf_*.h and
// friends). Expected values are worked out by hand from the definitions
// (the tokenizers library's documented behaviour, GPT-2's byte mapping,
// Unicode normalization), as noted beside each.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/tokenizers/added_tokens.h"
#include "runtime/tokenizers/bpe_model.h"
#include "runtime/tokenizers/byte_level.h"
#include "runtime/tokenizers/detokenizer.h"
#include "runtime/tokenizers/hf_decoder.h"
#include "runtime/tokenizers/hf_regex.h"
#include "runtime/tokenizers/hf_tokenizer.h"
#include "runtime/tokenizers/normalizer.h"
#include "runtime/tokenizers/pre_tokenizer.h"
#include "runtime/tokenizers/tokenizer.h"
#include "tests/test_support.h"

namespace headroom::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

const std::string kMeta = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// --- byte_level.h ---------------------------------------------------------

TEST(ByteLevelTest, MappingFollowsGpt2) {
  // Printable bytes stand for themselves.
  EXPECT_EQ(ByteToUnicode('A'), 0x41u);
  EXPECT_EQ(ByteToUnicode('~'), 0x7Eu);
  EXPECT_EQ(ByteToUnicode(0xA1), 0xA1u);
  EXPECT_EQ(ByteToUnicode(0xE9), 0xE9u);
  // The others count up from U+0100: 0x00..0x20 are the first 33 ...
  EXPECT_EQ(ByteToUnicode(0x00), 0x100u);
  EXPECT_EQ(ByteToUnicode('\n'), 0x10Au);  // "Ċ"
  EXPECT_EQ(ByteToUnicode(' '), 0x120u);   // "Ġ"
  // ... then 0x7F..0xA0 (34 more: U+0121..U+0142), then 0xAD.
  EXPECT_EQ(ByteToUnicode(0x7F), 0x121u);
  EXPECT_EQ(ByteToUnicode(0xA0), 0x142u);
  EXPECT_EQ(ByteToUnicode(0xAD), 0x143u);
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(UnicodeToByte(ByteToUnicode(b)), b) << b;
  }
  EXPECT_EQ(UnicodeToByte(0x144), std::nullopt);
  EXPECT_EQ(UnicodeToByte(0x4E00), std::nullopt);
}

TEST(ByteLevelTest, EncodeAndDecode) {
  EXPECT_EQ(ByteLevelEncode(" hi\n"), "\xC4\xA0hi\xC4\x8A");  // "ĠhiĊ"
  // "é" is C3 A9: U+00C3 "Ã" and U+00A9 "©".
  EXPECT_EQ(ByteLevelEncode("\xC3\xA9"), "\xC3\x83\xC2\xA9");
  EXPECT_EQ(ByteLevelDecode("\xC3\x83\xC2\xA9"), "\xC3\xA9");
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  EXPECT_EQ(ByteLevelDecode(ByteLevelEncode(all)), all);
  // Characters that stand for no byte are kept.
  EXPECT_EQ(ByteLevelDecode("\xE6\x97\xA5"), "\xE6\x97\xA5");
}

// --- hf_regex.h and the Split pre-tokenizer --------------------------------

std::vector<std::string> Matches(const HfRegex& re, std::string_view text) {
  std::vector<std::string> out;
  for (const auto& [b, e] : re.FindAll(text)) {
    out.emplace_back(text.substr(b, e - b));
  }
  return out;
}

constexpr char kLlama3Pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr char kQwenPattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

TEST(HfRegexTest, Llama3Split) {
  auto re = HfRegex::Compile(kLlama3Pattern, "test");
  ASSERT_TRUE(re.ok()) << re.status();
  // By the alternatives in order: "Hello" (letters), " world" (one non-
  // letter then letters), "'s" (contraction), " " (\s+: the space before a
  // digit is followed by \S, so \s+(?!\S) fails), digits in threes, "  \n"
  // (\s*[\r\n]+), " x".
  EXPECT_THAT(
      Matches(*re, "Hello world's 12345  \n x"),
      ElementsAre("Hello", " world", "'s", " ", "123", "45", "  \n", " x"));
  // \s+(?!\S) leaves the last space of a run to the next word.
  EXPECT_THAT(Matches(*re, "a   b"), ElementsAre("a", "  ", " b"));
  // Case-insensitive contractions; punctuation with its leading space.
  EXPECT_THAT(Matches(*re, "IT'S ok?!"), ElementsAre("IT", "'S", " ok", "?!"));
  // Letters are \p{L} in any script: "日本" is one run, "€" punctuation.
  EXPECT_THAT(Matches(*re, "\xE6\x97\xA5\xE6\x9C\xAC \xE2\x82\xAC"),
              ElementsAre("\xE6\x97\xA5\xE6\x9C\xAC", " \xE2\x82\xAC"));
}

TEST(HfRegexTest, QwenSplitsSingleDigits) {
  auto re = HfRegex::Compile(kQwenPattern, "test");
  ASSERT_TRUE(re.ok()) << re.status();
  EXPECT_THAT(Matches(*re, "x 2024"),
              ElementsAre("x", " ", "2", "0", "2", "4"));
}

TEST(HfRegexTest, NelIsWhitespaceAsInOniguruma) {
  auto re = HfRegex::Compile(kLlama3Pattern, "test");
  ASSERT_TRUE(re.ok()) << re.status();
  // U+0085 is White_Space: two of them before "b" are a whitespace run whose
  // last one goes with the word; were it not \s, " ?[^\s\p{L}\p{N}]+"
  // would take both as punctuation.
  EXPECT_THAT(Matches(*re,
                      "a\xC2\x85\xC2\x85"
                      "b"),
              ElementsAre("a", "\xC2\x85",
                          "\xC2\x85"
                          "b"));
  EXPECT_EQ(OnigurumaToPcre2("\\s[^\\s]\\S\\\\s"),
            "[\\s\\x{85}][^\\s\\x{85}][^\\s\\x{85}]\\\\s");
}

TEST(HfRegexTest, IllFormedUtf8IsLeftBetweenMatches) {
  auto re = HfRegex::Compile("\\p{L}+", "test");
  ASSERT_TRUE(re.ok());
  EXPECT_THAT(Matches(*re,
                      "ab\xFF"
                      "cd"),
              ElementsAre("ab", "cd"));
}

TEST(HfRegexTest, BadPatternNamesTheField) {
  auto re = HfRegex::Compile("(unclosed", "pre_tokenizer.pattern.Regex");
  ASSERT_FALSE(re.ok());
  EXPECT_EQ(re.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(re.status().message(),
              HasSubstr("pre_tokenizer.pattern.Regex: regex \"(unclosed\""));
}

std::vector<std::string> Pieces(std::string_view text, SplitBehavior b,
                                bool invert) {
  auto re = HfRegex::Literal("-", "test");
  std::vector<std::string> out;
  for (std::string_view p :
       SplitByMatches(text, re->FindAll(text), b, invert)) {
    out.emplace_back(p);
  }
  return out;
}

TEST(SplitTest, Behaviours) {
  // "a-b--c" split on "-", as the library documents each behaviour.
  const std::string t = "a-b--c";
  EXPECT_THAT(Pieces(t, SplitBehavior::kRemoved, false),
              ElementsAre("a", "b", "c"));
  EXPECT_THAT(Pieces(t, SplitBehavior::kIsolated, false),
              ElementsAre("a", "-", "b", "-", "-", "c"));
  EXPECT_THAT(Pieces(t, SplitBehavior::kMergedWithPrevious, false),
              ElementsAre("a-", "b-", "-", "c"));
  EXPECT_THAT(Pieces(t, SplitBehavior::kMergedWithNext, false),
              ElementsAre("a", "-b", "-", "-c"));
  EXPECT_THAT(Pieces(t, SplitBehavior::kContiguous, false),
              ElementsAre("a", "-", "b", "--", "c"));
  // Inverted, the letters are the matches: Removed keeps the dashes.
  // (each "-" is a match of its own, so the two adjacent ones stay apart).
  EXPECT_THAT(Pieces(t, SplitBehavior::kRemoved, true),
              ElementsAre("-", "-", "-"));
}

TEST(PreTokenizerTest, MetaspaceSchemes) {
  PreTokenizerStep step;
  step.kind = PreTokenizerStep::Kind::kMetaspace;
  step.prepend_scheme = PreTokenizerStep::PrependScheme::kFirst;
  auto p = PreTokenizer::Create({step});
  ASSERT_TRUE(p.ok());
  // Spaces become U+2581; "first" prepends only at the start of the text;
  // split: a piece starts at each U+2581.
  EXPECT_THAT(p->PreTokenize("a b", true),
              ElementsAre(kMeta + "a", kMeta + "b"));
  EXPECT_THAT(p->PreTokenize("a b", false), ElementsAre("a", kMeta + "b"));
  step.prepend_scheme = PreTokenizerStep::PrependScheme::kNever;
  step.split = false;
  p = PreTokenizer::Create({step});
  EXPECT_THAT(p->PreTokenize("a b", true), ElementsAre("a" + kMeta + "b"));
}

TEST(PreTokenizerTest, ByteLevelWithGpt2Regex) {
  PreTokenizerStep step;
  step.kind = PreTokenizerStep::Kind::kByteLevel;
  step.add_prefix_space = true;
  auto p = PreTokenizer::Create({step});
  ASSERT_TRUE(p.ok());
  // " Hi there": GPT-2's " ?\p{L}+" twice, each byte mapped ("Ġ" = space).
  EXPECT_THAT(p->PreTokenize("Hi there", true),
              ElementsAre("\xC4\xA0Hi", "\xC4\xA0there"));
}

// --- normalizer.h -----------------------------------------------------------

TEST(NormalizerTest, UnicodeForms) {
  // e + U+0301 COMBINING ACUTE composes to U+00E9 under NFC; NFD undoes it.
  EXPECT_EQ(UnicodeNormalize("e\xCC\x81", NormalizerStep::Kind::kNfc),
            "\xC3\xA9");
  EXPECT_EQ(UnicodeNormalize("\xC3\xA9", NormalizerStep::Kind::kNfd),
            "e\xCC\x81");
  // U+FB01 LATIN SMALL LIGATURE FI is "fi" under compatibility forms only.
  EXPECT_EQ(UnicodeNormalize("\xEF\xAC\x81", NormalizerStep::Kind::kNfkc),
            "fi");
  EXPECT_EQ(UnicodeNormalize("\xEF\xAC\x81", NormalizerStep::Kind::kNfc),
            "\xEF\xAC\x81");
  // Ill-formed bytes stay; the runs around them are normalized.
  EXPECT_EQ(UnicodeNormalize("e\xCC\x81\xFF"
                             "e\xCC\x81",
                             NormalizerStep::Kind::kNfc),
            "\xC3\xA9\xFF\xC3\xA9");
}

TEST(NormalizerTest, PrependReplaceSequence) {
  NormalizerStep prepend;
  prepend.kind = NormalizerStep::Kind::kPrepend;
  prepend.content = kMeta;
  NormalizerStep replace;
  replace.kind = NormalizerStep::Kind::kReplace;
  replace.pattern = *HfRegex::Literal(" ", "test");
  replace.content = kMeta;
  const Normalizer n({prepend, replace});
  // In order: "▁" + " a b", then each space to "▁".
  EXPECT_EQ(n.Normalize(" a b"), kMeta + kMeta + "a" + kMeta + "b");
  // Prepend leaves empty text empty.
  EXPECT_EQ(n.Normalize(""), "");
}

// --- bpe_model.h ------------------------------------------------------------

BpeModel MakeBpe(std::vector<std::pair<std::string, std::string>> merges,
                 bool ignore_merges = false) {
  BpeConfig c;
  c.vocab = {{"a", 0},  {"b", 1},   {"c", 2}, {"ab", 3},
             {"bc", 4}, {"abc", 5}, {"aa", 6}};
  c.merges = std::move(merges);
  c.ignore_merges = ignore_merges;
  auto m = BpeModel::Create(std::move(c));
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

std::vector<int> Word(const BpeModel& m, std::string_view w) {
  std::vector<int> ids;
  m.EncodeWord(w, &ids);
  return ids;
}

TEST(BpeModelTest, LowestRankMergesFirst) {
  // "abc": with "b c" ranked first, b+c merge and "a"+"bc" has no merge.
  EXPECT_THAT(Word(MakeBpe({{"b", "c"}, {"a", "b"}}), "abc"),
              ElementsAre(0, 4));
  // With "a b" first: "ab", "c".
  EXPECT_THAT(Word(MakeBpe({{"a", "b"}, {"b", "c"}}), "abc"),
              ElementsAre(3, 2));
  // Merges chain: "a b" then "ab c".
  EXPECT_THAT(Word(MakeBpe({{"a", "b"}, {"ab", "c"}}), "abc"), ElementsAre(5));
}

TEST(BpeModelTest, EqualRanksMergeLeftmostFirst) {
  // "aaa" with "a a": the left pair merges, leaving "aa", "a".
  EXPECT_THAT(Word(MakeBpe({{"a", "a"}}), "aaa"), ElementsAre(6, 0));
  EXPECT_THAT(Word(MakeBpe({{"a", "a"}}), "aaaa"), ElementsAre(6, 6));
}

TEST(BpeModelTest, IgnoreMerges) {
  // "abc" is in the vocabulary: with ignore_merges it is one token even
  // though no merge builds it.
  EXPECT_THAT(Word(MakeBpe({}, true), "abc"), ElementsAre(5));
  EXPECT_THAT(Word(MakeBpe({}, false), "abc"), ElementsAre(0, 1, 2));
}

TEST(BpeModelTest, ByteFallbackUnkAndFuse) {
  BpeConfig c;
  c.vocab = {{"<unk>", 0}, {"a", 1}, {"<0xC3>", 2}, {"<0xA9>", 3}};
  c.byte_fallback = true;
  c.unk_token = "<unk>";
  auto m = BpeModel::Create(c);
  ASSERT_TRUE(m.ok()) << m.status();
  // "é" (C3 A9) is not a token: its bytes are.
  EXPECT_THAT(Word(*m, "a\xC3\xA9"), ElementsAre(1, 2, 3));
  // "x" has no byte token: <unk>, one per character without fuse_unk.
  EXPECT_THAT(Word(*m, "xxa"), ElementsAre(0, 0, 1));
  c.fuse_unk = true;
  m = BpeModel::Create(c);
  EXPECT_THAT(Word(*m, "xxa"), ElementsAre(0, 1));
  // Neither: unknown characters are dropped.
  c.byte_fallback = false;
  c.unk_token.reset();
  m = BpeModel::Create(c);
  EXPECT_THAT(Word(*m, "xa\xC3\xA9"), ElementsAre(1));
}

TEST(BpeModelTest, Refusals) {
  BpeConfig c;
  c.vocab = {{"a", 0}, {"b", 1}};
  c.merges = {{"a", "b"}};
  auto m = BpeModel::Create(c);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m.status().message(),
            "model.merges[0]: \"ab\" is not in model.vocab");
  c.merges = {{"a", "z"}};
  EXPECT_EQ(BpeModel::Create(c).status().message(),
            "model.merges[0]: \"z\" is not in model.vocab");
  c.merges.clear();
  c.vocab = {{"a", -1}};
  EXPECT_THAT(BpeModel::Create(c).status().message(),
              HasSubstr("model.vocab: token \"a\" has id -1, outside [0, "));
  c.vocab = {{"a", 0}, {"b", 0}};
  EXPECT_EQ(BpeModel::Create(c).status().message(),
            "model.vocab: id 0 is given to two tokens");
  c.vocab = {{"a", 0}};
  c.unk_token = "<unk>";
  EXPECT_EQ(BpeModel::Create(c).status().message(),
            "model.unk_token: \"<unk>\" is not in model.vocab");
}

// --- added_tokens.h ---------------------------------------------------------

std::vector<std::pair<std::string, int>> Split(const AddedTokenMatcher& m,
                                               std::string_view text) {
  std::vector<std::pair<std::string, int>> out;
  for (const auto& p : m.Split(text)) out.emplace_back(p.text, p.id);
  return out;
}

TEST(AddedTokensTest, LongestMatchNeverSplit) {
  AddedTokenMatcher m({{10, "<|a"}, {11, "<|a|>"}, {12, "<|b|>"}});
  using P = std::pair<std::string, int>;
  EXPECT_THAT(Split(m, "x<|a|>y<|a<|b|>"),
              ElementsAre(P("x", -1), P("<|a|>", 11), P("y", -1), P("<|a", 10),
                          P("<|b|>", 12)));
  EXPECT_THAT(Split(m, "<|c|>"), ElementsAre(P("<|c|>", -1)));
}

TEST(AddedTokensTest, StripAndSingleWordFlags) {
  using P = std::pair<std::string, int>;
  AddedToken t{7, "<m>"};
  t.lstrip = true;
  EXPECT_THAT(Split(AddedTokenMatcher({t}), "a  <m> b"),
              ElementsAre(P("a", -1), P("  <m>", 7), P(" b", -1)));
  t.lstrip = false;
  t.rstrip = true;
  EXPECT_THAT(Split(AddedTokenMatcher({t}), "a  <m> b"),
              ElementsAre(P("a  ", -1), P("<m> ", 7), P("b", -1)));
  t.rstrip = false;
  t.single_word = true;
  EXPECT_THAT(Split(AddedTokenMatcher({t}), "a<m> b"),
              ElementsAre(P("a<m> b", -1)));
  EXPECT_THAT(Split(AddedTokenMatcher({t}), "a <m> b"),
              ElementsAre(P("a ", -1), P("<m>", 7), P(" b", -1)));
}

TEST(AddedTokensTest, NoMatchOverlapsAPlainRange) {
  AddedTokenMatcher m({{10, "<|a"}, {11, "<|a|>"}});
  using P = std::pair<std::string, int>;
  auto split = [&](std::string_view text, std::vector<ByteRange> plain) {
    std::vector<P> out;
    for (const auto& p : m.Split(text, plain)) out.emplace_back(p.text, p.id);
    return out;
  };
  // The second token lies in a plain range: it stays in the text between.
  EXPECT_THAT(split("<|a|>x<|a|>y<|a|>", {{6, 11}}),
              ElementsAre(P("<|a|>", 11), P("x<|a|>y", -1), P("<|a|>", 11)));
  // A range starting inside the longest match leaves the shorter one that
  // ends before it; one covering the token's first byte leaves none.
  EXPECT_THAT(split("<|a|>", {{3, 5}}), ElementsAre(P("<|a", 10), P("|>", -1)));
  EXPECT_THAT(split("<|a|>", {{0, 1}}), ElementsAre(P("<|a|>", -1)));
  EXPECT_THAT(split("<|a|><|a|>", {{0, 5}, {7, 8}}),
              ElementsAre(P("<|a|><|a|>", -1)));
}

// --- hf_decoder.h -----------------------------------------------------------

DecoderStep Step(DecoderStep::Kind kind) {
  DecoderStep s;
  s.kind = kind;
  s.field = "decoder";
  return s;
}

TEST(HfDecoderTest, ByteLevelAndMetaspace) {
  auto d = HfDecoder::Create({Step(DecoderStep::Kind::kByteLevel)});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->DecodeToken("\xC4\xA0hello", false), " hello");
  EXPECT_FALSE(d->first_matters());
  auto m = HfDecoder::Create({Step(DecoderStep::Kind::kMetaspace)});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->DecodeToken(kMeta + "hi" + kMeta, true), "hi ");
  EXPECT_EQ(m->DecodeToken(kMeta + "hi", false), " hi");
}

TEST(HfDecoderTest, SentencePieceSequence) {
  // LLaMA 2's tokenizer.json decoder: Replace(▁, " "), ByteFallback, Fuse,
  // Strip(" ", 1, 0): the text's first space goes.
  DecoderStep replace = Step(DecoderStep::Kind::kReplace);
  replace.pattern = *HfRegex::Literal(kMeta, "test");
  replace.content = " ";
  DecoderStep strip = Step(DecoderStep::Kind::kStrip);
  strip.content = " ";
  strip.start = 1;
  auto d = HfDecoder::Create({replace, Step(DecoderStep::Kind::kByteFallback),
                              Step(DecoderStep::Kind::kFuse), strip});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->DecodeToken(kMeta + "Hi", true), "Hi");
  EXPECT_EQ(d->DecodeToken(kMeta + "there", false), " there");
  EXPECT_EQ(d->DecodeToken("<0x21>", false), "!");
  EXPECT_TRUE(d->first_matters());
  strip.stop = 1;
  auto refused =
      HfDecoder::Create({replace, Step(DecoderStep::Kind::kFuse), strip});
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(),
              HasSubstr("decoder.stop: 1 after Fuse is not supported"));
}

TEST(HfDecoderTest, StripPerToken) {
  DecoderStep strip = Step(DecoderStep::Kind::kStrip);
  strip.content = "x";
  strip.start = 2;
  strip.stop = 1;
  auto d = HfDecoder::Create({strip});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->DecodeToken("xxxaxx", false), "xax");
  EXPECT_EQ(d->DecodeToken("x", false), "");
}

// --- hf_tokenizer.h: small tokenizer.json files -----------------------------

// A byte-level tokenizer: h, i, e, o, s, <, |, >, Ġ (space), "hi", "Ġhi",
// "/"; <|bos|> and </s> added, BOS through TemplateProcessing.
json ByteLevelJson() {
  json vocab = json::object();
  int id = 0;
  for (const char* t : {"h", "i", "e", "o", "s", "<", "|", ">", "\xC4\xA0",
                        "hi", "\xC4\xA0hi", "/"}) {
    vocab[t] = id++;
  }
  return json{
      {"version", "1.0"},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"},
        {"add_prefix_space", false},
        {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"vocab", vocab},
        {"merges", json::array({"h i", "\xC4\xA0 hi"})},
        {"ignore_merges", false}}},
      {"added_tokens", json::array({{{"id", 12},
                                     {"content", "<|bos|>"},
                                     {"special", true},
                                     {"normalized", false}},
                                    {{"id", 13},
                                     {"content", "</s>"},
                                     {"special", true},
                                     {"normalized", false}}})},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<|bos|>"}}}},
                                {{"Sequence", {{"id", "A"}}}}})},
        {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {12}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
  };
}

std::unique_ptr<HfTokenizer> Make(const json& j) {
  auto tok = HfTokenizer::FromJson(j.dump());
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? std::move(*tok) : nullptr;
}

TEST(HfTokenizerTest, ByteLevelEncodeDecode) {
  auto tok = Make(ByteLevelJson());
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 14);
  EXPECT_EQ(tok->bos_id(), 12);  // the template's first special token
  EXPECT_EQ(tok->eos_id(), 13);  // "</s>" (no tokenizer_config.json)
  // "hi hi": GPT-2 split "hi", " hi"; merges give "hi" (9), "Ġhi" (10).
  EXPECT_THAT(tok->Encode("hi hi", false), ElementsAre(9, 10));
  EXPECT_THAT(tok->Encode("hi hi", true), ElementsAre(12, 9, 10));
  // The added token is found in the text and never split.
  EXPECT_THAT(tok->Encode("hi</s>", false), ElementsAre(9, 13));
  // ... unless special tokens are plain text: then it is its characters
  // (GPT-2's split: "hi", then "</" and "s" and ">").
  EncodeOptions plain;
  plain.parse_special = false;
  EXPECT_THAT(tok->EncodeWithOptions("hi</s>", plain),
              ElementsAre(9, 5, 11, 4, 7));
  // Special tokens decode to nothing; others through ByteLevel.
  EXPECT_EQ(tok->Decode({12, 9, 10, 13}), "hi hi");
  EXPECT_EQ(tok->Decode(tok->EncodeWithOptions("hi</s>", plain)), "hi</s>");
  EXPECT_EQ(tok->DecodeToken(9, 10), " hi");
  EXPECT_EQ(tok->DecodeToken(9, -1), "");
  EXPECT_EQ(tok->DecodeToken(9, 14), "");
}

// `ids` followed by the ids of `text` with added tokens as plain text.
std::vector<int> ThenPlain(const HfTokenizer& tok, std::vector<int> ids,
                           const std::string& text) {
  EncodeOptions no_special;
  no_special.parse_special = false;
  for (int id : tok.EncodeWithOptions(text, no_special)) ids.push_back(id);
  return ids;
}

TEST(HfTokenizerTest, PlainTextRangesEncodeTheirTokensAsText) {
  auto tok = Make(ByteLevelJson());
  ASSERT_NE(tok, nullptr);
  EncodeOptions guarded;
  guarded.plain_text = {{6, 12}};  // the second "hi</s>"
  // The first </s> is a token; the text after it is one plain piece.
  EXPECT_EQ(tok->EncodeWithOptions("hi</s>hi</s>", guarded),
            ThenPlain(*tok, {9, 13}, "hi</s>"));
  // Without ranges, exactly as before.
  EXPECT_THAT(tok->EncodeWithOptions("hi</s>hi</s>", EncodeOptions()),
              ElementsAre(9, 13, 9, 13));
}

TEST(HfTokenizerTest, NormalizedAddedTokensMatchNormalizedText) {
  // The normalizer turns "x" into "h"; the added token "xi" is marked
  // normalized, so its content is normalized too ("hi") and it is looked
  // for in the normalized text: "xi hi" -> "hi hi" -> token, "Ġ", token.
  json j = ByteLevelJson();
  j["normalizer"] = {
      {"type", "Replace"}, {"pattern", {{"String", "x"}}}, {"content", "h"}};
  j["added_tokens"].push_back({{"id", 14},
                               {"content", "xi"},
                               {"special", false},
                               {"normalized", true}});
  auto tok = Make(j);
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(tok->Encode("xi hi", false), ElementsAre(14, 8, 14));
  // Not special, so it decodes (through ByteLevel) to its content.
  EXPECT_EQ(tok->Decode({14, 8, 14}), "xi xi");
}

TEST(HfTokenizerTest, ConfigChoosesBosAndEos) {
  auto tok = HfTokenizer::FromJson(
      ByteLevelJson().dump(),
      R"({"bos_token": null, "eos_token": {"content": "<|bos|>"}})");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->eos_id(), 12);
  auto bad =
      HfTokenizer::FromJson(ByteLevelJson().dump(), R"({"eos_token": "<x>"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "tokenizer_config.json: eos_token \"<x>\" is not a token");
}

TEST(HfTokenizerTest, IncrementalDetokenizerAcrossByteTokens) {
  // "é" as two byte-level tokens "Ã" and "©": the first alone is half a
  // UTF-8 character, so nothing is emitted until the second.
  json j = ByteLevelJson();
  j["model"]["vocab"]["\xC3\x83"] = 14;
  j["model"]["vocab"]["\xC2\xA9"] = 15;
  j["added_tokens"][0]["id"] = 16;
  j["added_tokens"][1]["id"] = 17;
  j["post_processor"] = nullptr;
  auto tok = Make(j);
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(tok->Encode("\xC3\xA9", false), ElementsAre(14, 15));
  IncrementalDetokenizer detok(*tok, {}, tok->bos_id());
  EXPECT_EQ(detok.Push(9), "hi");
  EXPECT_EQ(detok.Push(14), "");
  EXPECT_EQ(detok.Push(15), "\xC3\xA9");
  EXPECT_EQ(detok.Finish(), "");
}

// LLaMA 2's layout in tokenizer.json: Prepend + Replace normalizers, no
// pre-tokenizer, byte fallback, and the SentencePiece decoder sequence.
json SentencePieceJson() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  int id = 259;
  for (std::string t : {kMeta, std::string("a"), std::string("b"), kMeta + "a",
                        kMeta + "ab", std::string("ab")}) {
    vocab[t] = id++;
  }
  return json{
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", kMeta}},
                                     {{"type", "Replace"},
                                      {"pattern", {{"String", " "}}},
                                      {"content", kMeta}}})}}},
      {"pre_tokenizer", nullptr},
      {"model",
       {{"type", "BPE"},
        {"vocab", vocab},
        {"merges", json::array({kMeta + " a", kMeta + "a b", "a b"})},
        {"unk_token", "<unk>"},
        {"byte_fallback", true},
        {"fuse_unk", true}}},
      {"added_tokens",
       json::array({{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                    {{"id", 1}, {"content", "<s>"}, {"special", true}},
                    {{"id", 2}, {"content", "</s>"}, {"special", true}}})},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders", json::array({{{"type", "Replace"},
                                   {"pattern", {{"String", kMeta}}},
                                   {"content", " "}},
                                  {{"type", "ByteFallback"}},
                                  {{"type", "Fuse"}},
                                  {{"type", "Strip"},
                                   {"content", " "},
                                   {"start", 1},
                                   {"stop", 0}}})}}},
  };
}

TEST(HfTokenizerTest, SentencePieceStyle) {
  auto tok = Make(SentencePieceJson());
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  // "ab é" -> "▁ab▁é": symbols ▁ a b ▁ <0xC3> <0xA9>; "▁ a" (rank 0) then
  // "▁a b" (rank 1) give "▁ab" (263), then "▁" (259) and the two bytes.
  const std::vector<int> ids = tok->Encode("ab \xC3\xA9", false);
  EXPECT_THAT(ids, ElementsAre(263, 259, 3 + 0xC3, 3 + 0xA9));
  // Decoding drops the prepended space of the first token only.
  EXPECT_EQ(tok->Decode(ids), "ab \xC3\xA9");
  EXPECT_EQ(tok->DecodeToken(1, 263), "ab");
  EXPECT_EQ(tok->DecodeToken(259, 263), " ab");
}

TEST(HfTokenizerTest, SentencePieceBosInAPlainRangeIsText) {
  auto tok = Make(SentencePieceJson());
  ASSERT_NE(tok, nullptr);
  EncodeOptions guarded;
  guarded.plain_text = {{5, 8}};  // the second "<s>"
  const std::vector<int> expected = ThenPlain(*tok, {1}, "ab<s>");
  EXPECT_EQ(tok->EncodeWithOptions("<s>ab<s>", guarded), expected);
  EXPECT_EQ(std::count(expected.begin(), expected.end(), 1), 1);
}

// --- refusals ------------------------------------------------------------

std::string Refusal(const json& j) {
  auto tok = HfTokenizer::FromJson(j.dump());
  EXPECT_FALSE(tok.ok());
  if (tok.ok()) return "";
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(tok.status().message());
}

TEST(HfTokenizerJsonTest, RefusesUnsupportedComponents) {
  json j = ByteLevelJson();
  j["model"]["type"] = "WordPiece";
  EXPECT_THAT(Refusal(j),
              HasSubstr("model.type \"WordPiece\" is not supported"));
  j = ByteLevelJson();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_THAT(Refusal(j),
              HasSubstr("pre_tokenizer.type \"Whitespace\" is not supported"));
  j = ByteLevelJson();
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", json::array({{{"type", "ByteLevel"}},
                                                       {{"type", "Digits"}}})}};
  EXPECT_THAT(Refusal(j), HasSubstr("pre_tokenizer.pretokenizers[1].type "
                                    "\"Digits\" is not supported"));
  j = ByteLevelJson();
  j["normalizer"] = {{"type", "Lowercase"}};
  EXPECT_THAT(Refusal(j),
              HasSubstr("normalizer.type \"Lowercase\" is not supported"));
  j = ByteLevelJson();
  j["decoder"] = {{"type", "WordPiece"}};
  EXPECT_THAT(Refusal(j),
              HasSubstr("decoder.type \"WordPiece\" is not supported"));
  j = ByteLevelJson();
  j["post_processor"] = {{"type", "BertProcessing"}};
  EXPECT_THAT(Refusal(j), HasSubstr("post_processor.type \"BertProcessing\" "
                                    "is not supported"));
  j = ByteLevelJson();
  j["pre_tokenizer"] = {{"type", "Split"},
                        {"pattern", {{"Regex", "a"}}},
                        {"behavior", "Sideways"}};
  EXPECT_THAT(Refusal(j), HasSubstr("pre_tokenizer.behavior \"Sideways\" is "
                                    "not supported"));
  j = ByteLevelJson();
  j["model"]["dropout"] = 0.1;
  EXPECT_THAT(Refusal(j), HasSubstr("model.dropout 0.1 is not supported"));
  j = ByteLevelJson();
  j["model"]["continuing_subword_prefix"] = "##";
  EXPECT_THAT(Refusal(j), HasSubstr("model.continuing_subword_prefix \"##\" "
                                    "is not supported"));
}

TEST(HfTokenizerJsonTest, RefusesMalformedFields) {
  EXPECT_EQ(Refusal(json("not an object")),
            "tokenizer.json is not a JSON object");
  EXPECT_EQ(std::string(HfTokenizer::FromJson("{").status().message()),
            "tokenizer.json is not valid JSON");
  EXPECT_EQ(Refusal(json::object()), "model is missing");
  json j = ByteLevelJson();
  j["model"]["merges"] = json::array({"h i x"});
  EXPECT_EQ(Refusal(j), "model.merges[0] \"h i x\" is not \"A B\"");
  j = ByteLevelJson();
  j["model"]["vocab"]["z"] = "seven";
  EXPECT_EQ(Refusal(j), "model.vocab \"seven\" is not an integer id");
  j = ByteLevelJson();
  j["added_tokens"][0]["id"] = int64_t{1} << 40;
  EXPECT_EQ(Refusal(j),
            "added_tokens[0].id 1099511627776 is outside [0, 2097151]");
  j = ByteLevelJson();
  j["added_tokens"][1]["lstrip"] = "yes";
  EXPECT_EQ(Refusal(j), "added_tokens[1].lstrip must be a boolean");
  j = ByteLevelJson();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(("}}}};
  EXPECT_THAT(Refusal(j), HasSubstr("pre_tokenizer.pattern.Regex: regex "
                                    "\"((\" does not compile"));
  j = ByteLevelJson();
  j["added_tokens"] = json::array();
  j["post_processor"] = nullptr;
  EXPECT_THAT(Refusal(j), HasSubstr("no EOS token"));
}

// --- loading ----------------------------------------------------------------

TEST(HfTokenizerLoadTest, DirectoryPrefersTokenizerJson) {
  const std::string dir = testing::MakeTempDir("hf_dir");
  std::ofstream(dir + "/tokenizer.json") << ByteLevelJson().dump();
  std::ofstream(dir + "/tokenizer.model") << "not read";
  auto found = FindTokenizerFor(dir);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, dir + "/tokenizer.json");
  auto tok = LoadTokenizer(*found, 32);  // the model pads its vocabulary
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT((*tok)->Encode("hi hi", false), ElementsAre(9, 10));
  auto too_small = LoadTokenizer(*found, 10);
  ASSERT_FALSE(too_small.ok());
  EXPECT_THAT(too_small.status().message(),
              HasSubstr("has 14 ids but the model's vocab_size is 10"));
  auto missing = LoadTokenizer(dir + "/nope.json", 0);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  std::ofstream(dir + "/bad.json") << R"({"model": {"type": "Unigram"}})";
  auto bad = LoadTokenizer(dir + "/bad.json", 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("bad.json: model.type \"Unigram\" is not supported"));
}

}  // namespace
}  // namespace headroom::runtime
