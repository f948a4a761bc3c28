// Incremental detokenization: UTF-8 assembly from byte tokens, U+FFFD for
// invalid bytes, stop strings (on a synthetic vocabulary whose pieces the
// tests choose), and round trips against Tokenizer::Decode on the real
// tok512.bin and LLaMA 2 tokenizer.bin vocabularies.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "runtime/tokenizers/detokenizer.h"
#include "runtime/tokenizers/tokenizer.h"
#include "tests/test_support.h"

namespace headroom::runtime {
namespace {

constexpr char kTok512[] = "models/stories260K/tok512.bin";
constexpr char kLlamaBin[] = "models/llama2-tokenizer/tokenizer.bin";
constexpr char kFffd[] = "\xEF\xBF\xBD";

// A vocabulary of arbitrary byte strings: id 0 <unk>, 1 BOS, 2 EOS, then
// the given pieces from id 3. After BOS a piece loses its leading space, as
// Tokenizer::DecodeToken specifies.
class FakeTokenizer final : public Tokenizer {
 public:
  explicit FakeTokenizer(std::vector<std::string> pieces)
      : pieces_(std::move(pieces)) {}

  std::vector<int> Encode(std::string_view, bool) const override { return {}; }
  std::string DecodeToken(int prev_id, int id) const override {
    if (id < 3 || id >= vocab_size()) return "";
    const std::string& piece = pieces_[id - 3];
    if (prev_id == bos_id() && !piece.empty() && piece[0] == ' ') {
      return piece.substr(1);
    }
    return piece;
  }
  int vocab_size() const override {
    return static_cast<int>(pieces_.size()) + 3;
  }
  int bos_id() const override { return 1; }
  int eos_id() const override { return 2; }

 private:
  std::vector<std::string> pieces_;
};

// True when `s` is well-formed UTF-8: decoded code point by code point,
// rejecting stray continuation bytes, overlong forms, surrogates and values
// above U+10FFFF. (Written apart from the detokenizer's own scanner.)
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char b = s[i];
    int extra;
    uint32_t cp;
    if (b < 0x80) {
      extra = 0;
      cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      extra = 1;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      extra = 2;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      extra = 3;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // cut short
    for (int k = 1; k <= extra; ++k) {
      const unsigned char c = s[i + k];
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

TEST(IsValidUtf8Test, SelfCheck) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("abc \xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));
  EXPECT_FALSE(IsValidUtf8("a\xF0\x9F\x98"));
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
}

// Pushes every id, checking that each delta is whole UTF-8 characters, and
// returns the deltas (Finish's last).
std::vector<std::string> PushAll(IncrementalDetokenizer& detok,
                                 const std::vector<int>& ids) {
  std::vector<std::string> deltas;
  for (int id : ids) {
    deltas.push_back(detok.Push(id));
    EXPECT_TRUE(IsValidUtf8(deltas.back()))
        << "delta " << absl::CEscape(deltas.back()) << " after id " << id;
  }
  deltas.push_back(detok.Finish());
  EXPECT_TRUE(IsValidUtf8(deltas.back()));
  return deltas;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += p;
  return out;
}

// ---------------------------------------------------------------------------
// Synthetic vocabulary.

// Ids of the pieces in FakeTokenizer order (piece k has id k + 3).
class DetokenizerFakeTest : public ::testing::Test {
 protected:
  DetokenizerFakeTest()
      : tok_({
            "Hello",                       // 3
            " wo",                         // 4
            "rl",                          // 5
            "d!",                          // 6
            "abcSTOPdef",                  // 7
            "\xE4",                        // 8   中 = E4 B8 AD
            "\xB8",                        // 9
            "\xAD",                        // 10
            "\xF0",                        // 11  😀 = F0 9F 98 80
            "\x9F",                        // 12
            "\x98",                        // 13
            "\x80",                        // 14
            "\xFF",                        // 15  never valid
            "a",                           // 16
            "\xC3",                        // 17  é = C3 A9
            "\xA9",                        // 18
            "\xE0",                        // 19
            "\xED",                        // 20
            "\xA0",                        // 21
            "rk",                          // 22
            "b",                           // 23
            "caf",                         // 24
            "?",                           // 25
            "hello world",                 // 26
            " in the cat",                 // 27
            "x\xE4\xB8\xAD\xE6\x96\x87y",  // 28  "x中文y"
            "\xE6",                        // 29  文 = E6 96 87
            "\x96",                        // 30
            "\x87",                        // 31
        }) {}

  FakeTokenizer tok_;
};

TEST_F(DetokenizerFakeTest, NoStopStringsEmitsWholeTokensAtOnce) {
  IncrementalDetokenizer detok(tok_, {}, /*previous_token=*/0);
  EXPECT_EQ(detok.Push(3), "Hello");
  EXPECT_EQ(detok.Push(4), " wo");
  EXPECT_EQ(detok.Push(5), "rl");
  EXPECT_EQ(detok.Push(6), "d!");
  EXPECT_EQ(detok.Finish(), "");
  EXPECT_EQ(detok.text(), "Hello world!");
  EXPECT_FALSE(detok.stopped());
  EXPECT_EQ(detok.Push(3), "");  // after Finish
}

TEST_F(DetokenizerFakeTest, LeadingSpaceDroppedOnlyAfterBos) {
  IncrementalDetokenizer after_bos(tok_, {}, tok_.bos_id());
  EXPECT_EQ(after_bos.Push(4), "wo");
  EXPECT_EQ(after_bos.Push(4), " wo");  // the previous token is no longer BOS
  IncrementalDetokenizer after_text(tok_, {}, 3);
  EXPECT_EQ(after_text.Push(4), " wo");
}

TEST_F(DetokenizerFakeTest, MultiByteCharactersWaitForTheirLastByte) {
  IncrementalDetokenizer detok(tok_, {}, 0);
  EXPECT_EQ(detok.Push(8), "");
  EXPECT_EQ(detok.Push(9), "");
  EXPECT_EQ(detok.Push(10), "\xE4\xB8\xAD");
  EXPECT_EQ(detok.Push(11), "");
  EXPECT_EQ(detok.Push(12), "");
  EXPECT_EQ(detok.Push(13), "");
  EXPECT_EQ(detok.Push(14), "\xF0\x9F\x98\x80");
  EXPECT_EQ(detok.Push(16), "a");
  EXPECT_EQ(detok.Finish(), "");
}

TEST_F(DetokenizerFakeTest, InvalidBytesBecomeReplacementCharacters) {
  IncrementalDetokenizer detok(tok_, {}, 0);
  // FF can never start a character: replaced at once.
  EXPECT_EQ(detok.Push(15), kFffd);
  // A stray continuation byte likewise.
  EXPECT_EQ(detok.Push(14), kFffd);
  // C3 waits; 'a' cannot continue it: C3 -> U+FFFD, then 'a'.
  EXPECT_EQ(detok.Push(17), "");
  EXPECT_EQ(detok.Push(16), std::string(kFffd) + "a");
  // E0 needs A0..BF next; 80 breaks it (overlong): two replacements.
  EXPECT_EQ(detok.Push(19), "");
  EXPECT_EQ(detok.Push(14), std::string(kFffd) + kFffd);
  // ED A0 would be a surrogate: ED, then A0, each replaced.
  EXPECT_EQ(detok.Push(20), "");
  EXPECT_EQ(detok.Push(21), std::string(kFffd) + kFffd);
  // A valid character after all that still comes through.
  EXPECT_EQ(detok.Push(17), "");
  EXPECT_EQ(detok.Push(18), "\xC3\xA9");
  EXPECT_EQ(detok.Finish(), "");
  EXPECT_TRUE(IsValidUtf8(detok.text()));
}

TEST_F(DetokenizerFakeTest, FinishReplacesAnUnfinishedCharacterOnce) {
  IncrementalDetokenizer detok(tok_, {}, 0);
  EXPECT_EQ(detok.Push(16), "a");
  EXPECT_EQ(detok.Push(11), "");
  EXPECT_EQ(detok.Push(12), "");
  EXPECT_EQ(detok.Push(13), "");
  EXPECT_EQ(detok.Finish(), kFffd);
  EXPECT_EQ(detok.text(), std::string("a") + kFffd);
  EXPECT_EQ(detok.Finish(), "");  // once only
}

TEST_F(DetokenizerFakeTest, FinishStillStopsOnAStopStringItCompletes) {
  // Stop "a" + U+FFFD: only the replacement made at the end completes it.
  IncrementalDetokenizer detok(tok_, {std::string("a") + kFffd}, 0);
  EXPECT_EQ(detok.Push(3), "Hello");
  EXPECT_EQ(detok.Push(16), "");  // "a" could start the stop string
  EXPECT_EQ(detok.Push(17), "");  // C3: unfinished character
  EXPECT_EQ(detok.Finish(), "");
  EXPECT_TRUE(detok.stopped());
  EXPECT_EQ(detok.text(), "Hello");
}

TEST_F(DetokenizerFakeTest, StopStringSpanningSeveralTokens) {
  IncrementalDetokenizer detok(tok_, {"world"}, 0);
  EXPECT_EQ(detok.Push(3), "Hello");
  EXPECT_EQ(detok.Push(4), " ");  // "wo" could start "world": held
  EXPECT_FALSE(detok.stopped());
  EXPECT_EQ(detok.Push(5), "");  // "worl": still held
  EXPECT_EQ(detok.Push(6), "");  // "world!": stop; nothing before it left
  EXPECT_TRUE(detok.stopped());
  EXPECT_EQ(detok.matched_stop(), "world");
  EXPECT_EQ(detok.text(), "Hello ");
  EXPECT_EQ(detok.Push(3), "");
  EXPECT_EQ(detok.Finish(), "");
  EXPECT_EQ(detok.text(), "Hello ");
}

TEST_F(DetokenizerFakeTest, StopStringInsideOnePieceEmitsOnlyTheTextBefore) {
  IncrementalDetokenizer detok(tok_, {"STOP"}, 0);
  EXPECT_EQ(detok.Push(3), "Hello");
  EXPECT_EQ(detok.Push(7), "abc");  // "def" after the stop string: dropped
  EXPECT_TRUE(detok.stopped());
  EXPECT_EQ(detok.text(), "Helloabc");
}

TEST_F(DetokenizerFakeTest, PartialMatchThatFailsIsEmitted) {
  IncrementalDetokenizer detok(tok_, {"world"}, 0);
  EXPECT_EQ(detok.Push(4), " ");
  EXPECT_EQ(detok.Push(22), "work");  // "work" is not "world": released
  EXPECT_EQ(detok.Push(4), " ");
  EXPECT_EQ(detok.Finish(), "wo");  // never completed: emitted at the end
  EXPECT_FALSE(detok.stopped());
  EXPECT_EQ(detok.text(), " work wo");
}

TEST_F(DetokenizerFakeTest, OverlappingPrefixesHoldOnlyWhatCanStillMatch) {
  // "aaab" with stop "aab": after "aaa" only the last "aa" can still match.
  IncrementalDetokenizer detok(tok_, {"aab"}, 0);
  EXPECT_EQ(detok.Push(16), "");
  EXPECT_EQ(detok.Push(16), "");
  EXPECT_EQ(detok.Push(16), "a");
  EXPECT_EQ(detok.Push(23), "");
  EXPECT_TRUE(detok.stopped());
  EXPECT_EQ(detok.text(), "a");
}

TEST_F(DetokenizerFakeTest, EarliestStopStringWins) {
  // "lo" (second in the list) starts before "world".
  IncrementalDetokenizer detok(tok_, {"world", "lo"}, 0);
  EXPECT_EQ(detok.Push(26), "hel");
  EXPECT_EQ(detok.matched_stop(), "lo");

  IncrementalDetokenizer detok2(tok_, {"cat", "the"}, 0);
  EXPECT_EQ(detok2.Push(27), " in ");
  EXPECT_EQ(detok2.matched_stop(), "the");

  // Same start: the earlier in the list.
  IncrementalDetokenizer detok3(tok_, {"hell", "hello"}, 0);
  EXPECT_EQ(detok3.Push(26), "");
  EXPECT_EQ(detok3.matched_stop(), "hell");
}

TEST_F(DetokenizerFakeTest, EmptyStopStringsAreIgnored) {
  IncrementalDetokenizer detok(tok_, {"", "zzz"}, 0);
  EXPECT_EQ(detok.Push(3), "Hello");
  EXPECT_FALSE(detok.stopped());
}

TEST_F(DetokenizerFakeTest, MultiByteStopStringAcrossByteTokens) {
  // Stop "中文" assembled from six byte tokens after "a".
  IncrementalDetokenizer detok(tok_, {"\xE4\xB8\xAD\xE6\x96\x87"}, 0);
  EXPECT_EQ(detok.Push(16), "a");
  for (int id : {8, 9, 10, 29, 30}) EXPECT_EQ(detok.Push(id), "") << id;
  EXPECT_EQ(detok.Push(31), "");
  EXPECT_TRUE(detok.stopped());
  EXPECT_EQ(detok.text(), "a");

  // Inside one piece with text on both sides.
  IncrementalDetokenizer inside(tok_, {"\xE4\xB8\xAD\xE6\x96\x87"}, 0);
  EXPECT_EQ(inside.Push(28), "x");
  EXPECT_TRUE(inside.stopped());
}

TEST_F(DetokenizerFakeTest, HeldStopPrefixWithMultiByteCharacter) {
  // Stop "é!"; "é?" is not it, so "é" is held and then released.
  IncrementalDetokenizer detok(tok_, {"\xC3\xA9!"}, 0);
  EXPECT_EQ(detok.Push(24), "caf");
  EXPECT_EQ(detok.Push(17), "");
  EXPECT_EQ(detok.Push(18), "");  // whole "é", but a prefix of the stop
  EXPECT_EQ(detok.Push(25), "\xC3\xA9?");
  EXPECT_EQ(detok.Finish(), "");
  EXPECT_EQ(detok.text(), "caf\xC3\xA9?");
}

// ---------------------------------------------------------------------------
// Real vocabularies.

// Strings with multi-byte characters that the small vocabulary can only
// spell with byte tokens (and LLaMA 2's often too: emoji).
const std::vector<std::string>& Samples() {
  static const std::vector<std::string> samples = {
      "", "a", "Once upon a time, there was a little girl named Lily.",
      "   leading spaces and trailing ones   ", "tabs\tand\nnewlines\n\n",
      "na\xC3\xAFve caf\xC3\xA9 r\xC3\xA9sum\xC3\xA9",  // naïve café
                                                        // résumé
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86"
      "\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88",  // 日本語のテキスト
      "\xE4\xB8\xAD\xE6\x96\x87\xE6\xB5\x8B\xE8\xAF\x95 mixed "
      "\xE4\xB8\xAD",  // 中文测试
      "emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89 "
      "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD!",
      "flag \xF0\x9F\x87\xAF\xF0\x9F\x87\xB5 and \xE2\x88\x91 "
      "\xE2\x88\x9E",
      "\xE2\x80\x9Cquotes\xE2\x80\x9D \xE2\x80\x94 dash \xCE\xA9mega",
      "math \xF0\x9D\x94\x98\xF0\x9D\x94\xAB\xF0\x9D\x94\xA6",  // 𝔘𝔫𝔦
      "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xD0\xBF\xD1\x80\xD0\xB8"
      "\xD0\xB2\xD0\xB5\xD1\x82",  // 한국어 привет
  };
  return samples;
}

// Random strings over a pool of 1- to 4-byte characters.
std::vector<std::string> RandomSamples(int count, uint32_t seed) {
  static const std::vector<std::string> pool = {"a",
                                                "b",
                                                "e",
                                                " ",
                                                " ",
                                                "the",
                                                ".",
                                                "\n",
                                                "\xC3\xA9",
                                                "\xC3\xBC",
                                                "\xCE\xA9",
                                                "\xD0\xB6",
                                                "\xE4\xB8\xAD",
                                                "\xE6\x96\x87",
                                                "\xE3\x81\x82",
                                                "\xE2\x82\xAC",
                                                "\xF0\x9F\x98\x80",
                                                "\xF0\x9F\x8E\x89",
                                                "\xF0\x9F\x87\xAF",
                                                "\xF0\x9D\x94\x98"};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> length(0, 30);
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    std::string s;
    for (int n = length(rng); n > 0; --n) s += pool[pick(rng)];
    out.push_back(s);
  }
  return out;
}

// The embedded model's SentencePiece tokenizer (vocab 512, byte fallback):
// in the source tree, so its cases run without ../shared.
constexpr char kEmbedded[] = "";

class DetokenizerRealTest
    : public ::testing::TestWithParam<std::pair<const char*, int>> {
 protected:
  void SetUp() override {
    const std::string relative = GetParam().first;
    if (relative.empty()) {
      path_ = ::headroom::testing::EmbeddedModelPath() + "/tokenizer.model";
    } else {
      path_ = ::headroom::testing::SharedPath(relative);
      if (path_.empty()) {
        GTEST_SKIP() << "../shared/" << relative << " is absent";
      }
    }
    absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
        LoadTokenizer(path_, GetParam().second);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tok_ = std::move(*tok);
  }

  // Checks one string: the deltas are whole characters and add up to
  // Decode(ids) == text. Returns how many tokens' bytes were not valid UTF-8
  // on their own (characters split across byte tokens).
  int CheckRoundTrip(const std::string& text,
                     const std::vector<std::string>& stops) {
    const std::vector<int> ids = tok_->Encode(text, /*add_bos=*/true);
    EXPECT_EQ(tok_->Decode(ids), text);
    IncrementalDetokenizer detok(*tok_, stops, ids[0]);
    const std::vector<int> rest(ids.begin() + 1, ids.end());
    const std::vector<std::string> deltas = PushAll(detok, rest);
    EXPECT_EQ(Join(deltas), text) << absl::CEscape(text);
    EXPECT_EQ(detok.text(), text);
    EXPECT_FALSE(detok.stopped());
    int split = 0;
    for (size_t i = 1; i < ids.size(); ++i) {
      if (!IsValidUtf8(tok_->DecodeToken(ids[i - 1], ids[i]))) ++split;
    }
    return split;
  }

  std::string path_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_P(DetokenizerRealTest, DeltasAddUpToDecode) {
  int split = 0;
  for (const std::string& s : Samples()) split += CheckRoundTrip(s, {});
  // The samples do exercise characters split across byte tokens.
  EXPECT_GT(split, 0);
  for (const std::string& s : RandomSamples(200, 1)) CheckRoundTrip(s, {});
}

TEST_P(DetokenizerRealTest, StopStringsThatNeverMatchChangeNothing) {
  // Each of these shares prefixes with the texts, so text is held back and
  // released again along the way; none can complete ('#' and '!' are not in
  // the random pool, and no sample has them where needed).
  const std::vector<std::string> stops = {"little boy",
                                          "Once upon a tim!",
                                          "\xF0\x9F\x98\x80#",
                                          "\xE4\xB8\xAD\xE4\xB8\xAD#",
                                          "e e#",
                                          "\n\n#"};
  for (const std::string& s : Samples()) CheckRoundTrip(s, stops);
  for (const std::string& s : RandomSamples(100, 2)) CheckRoundTrip(s, stops);
}

TEST_P(DetokenizerRealTest, StopsAtTheStopString) {
  const std::string text = "Once upon a time, there was a little dog. The end.";
  const std::vector<int> ids = tok_->Encode(text, true);
  IncrementalDetokenizer detok(*tok_, {"little dog", "zebra"}, ids[0]);
  std::string emitted;
  for (size_t i = 1; i < ids.size() && !detok.stopped(); ++i) {
    emitted += detok.Push(ids[i]);
  }
  emitted += detok.Finish();
  EXPECT_TRUE(detok.stopped());
  EXPECT_EQ(detok.matched_stop(), "little dog");
  EXPECT_EQ(emitted, "Once upon a time, there was a ");
  EXPECT_EQ(detok.text(), emitted);
}

TEST_P(DetokenizerRealTest, StopStringInsideAMultiCharacterPiece) {
  const std::string text = "Once upon a time, there was a little dog.";
  const std::vector<int> ids = tok_->Encode(text, true);
  // The first piece of four or more bytes; the stop string is its middle, so
  // text follows the stop string within the same token.
  std::string stop;
  for (size_t i = 1; i < ids.size() && stop.empty(); ++i) {
    const std::string piece = tok_->DecodeToken(ids[i - 1], ids[i]);
    if (piece.size() >= 4) stop = piece.substr(1, 2);
  }
  ASSERT_FALSE(stop.empty());
  IncrementalDetokenizer detok(*tok_, {stop}, ids[0]);
  const std::vector<int> rest(ids.begin() + 1, ids.end());
  const std::string emitted = Join(PushAll(detok, rest));
  EXPECT_TRUE(detok.stopped());
  EXPECT_EQ(emitted, text.substr(0, text.find(stop))) << "stop " << stop;
}

// Property: with a stop string cut from the text at character boundaries,
// the output is exactly the text before its first occurrence.
TEST_P(DetokenizerRealTest, RandomStopStringsCutAtTheFirstOccurrence) {
  std::mt19937 rng(3);
  int stopped = 0;
  for (const std::string& text : RandomSamples(300, 4)) {
    // Character boundaries of `text`.
    std::vector<size_t> bounds;
    for (size_t i = 0; i <= text.size(); ++i) {
      if (i == text.size() ||
          (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
        bounds.push_back(i);
      }
    }
    if (bounds.size() < 2) continue;
    std::uniform_int_distribution<size_t> pick(0, bounds.size() - 2);
    const size_t a = pick(rng);
    std::uniform_int_distribution<size_t> len(
        1, std::min<size_t>(4, bounds.size() - 1 - a));
    const std::string stop =
        text.substr(bounds[a], bounds[a + len(rng)] - bounds[a]);
    const std::vector<int> ids = tok_->Encode(text, true);
    IncrementalDetokenizer detok(*tok_, {stop, "\xF0\x9F\x98\x80!"}, ids[0]);
    const std::vector<int> rest(ids.begin() + 1, ids.end());
    const std::string emitted = Join(PushAll(detok, rest));
    const size_t first =
        std::min(text.find(stop), text.find("\xF0\x9F\x98\x80!"));
    EXPECT_EQ(emitted, text.substr(0, first))
        << absl::CEscape(text) << " stop " << absl::CEscape(stop);
    EXPECT_TRUE(detok.stopped());
    stopped += detok.stopped();
  }
  EXPECT_GT(stopped, 200);
}

TEST_P(DetokenizerRealTest, ContinuesAfterAPrompt) {
  // Decoding output tokens after a non-BOS prompt token keeps their leading
  // spaces: the deltas equal DecodeToken chained from the last prompt token.
  const std::vector<int> prompt = tok_->Encode("Once upon", true);
  const std::vector<int> output =
      tok_->Encode(" a time \xF0\x9F\x98\x80 there", false);
  std::string expected;
  int prev = prompt.back();
  for (int id : output) {
    expected += tok_->DecodeToken(prev, id);
    prev = id;
  }
  IncrementalDetokenizer detok(*tok_, {}, prompt.back());
  EXPECT_EQ(Join(PushAll(detok, output)), expected);
  EXPECT_EQ(expected.substr(0, 3), "  a");  // dummy prefix + " a"
}

INSTANTIATE_TEST_SUITE_P(
    Vocabularies, DetokenizerRealTest,
    ::testing::Values(std::make_pair(kTok512, 512),
                      std::make_pair(kLlamaBin, 32000),
                      std::make_pair(kEmbedded, 512)),
    [](const ::testing::TestParamInfo<std::pair<const char*, int>>& info) {
      if (info.param.first[0] == '\0') return std::string("HeadroomTiny");
      return info.param.second == 512 ? std::string("Tok512")
                                      : std::string("Llama2");
    });

}  // namespace
}  // namespace headroom::runtime
