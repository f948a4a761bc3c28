// headroom-eval ppl against the llama2.c reference perplexity
// (../shared/testdata/README.md): first 200 non-empty TinyStories lines,
// 19,395 predicted tokens, perplexity 4.21896, for both stories260K models.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_support.h"
#include "tests/tool_runner.h"

namespace headroom {
namespace {

using ::headroom::testing::BinaryPath;
using ::headroom::testing::LastJsonLine;
using ::headroom::testing::RunTool;
using ::testing::HasSubstr;

void ExpectReferencePerplexity(const std::string& model,
                               const std::string& text) {
  auto r = RunTool(BinaryPath("tools/headroom-eval") + " ppl --model " + model +
                   " --text " + text + " --lines 1:200");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = LastJsonLine(r.stdout_text);
  EXPECT_EQ(j["lines"].get<int>(), 200);
  EXPECT_EQ(j["predicted_tokens"].get<int>(), 19395);
  EXPECT_NEAR(j["perplexity"].get<double>(), 4.21896, 4.21896 * 1e-4);
  EXPECT_NEAR(j["nll_per_token"].get<double>(), 1.439589, 1.439589 * 1e-4);
}

TEST(EvalToolTest, Stories260KPerplexityMatchesReference) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(text, "data/tinystories_val.txt");
  ExpectReferencePerplexity(model, text);
}

TEST(EvalToolTest, Mha8PerplexityMatchesReference) {
  HEADROOM_REQUIRE_SHARED(model,
                          "models/stories260K-mha8/stories260K_mha8.bin");
  HEADROOM_REQUIRE_SHARED(text, "data/tinystories_val.txt");
  ExpectReferencePerplexity(model, text);
}

// On the embedded model and the tests/data text: runs without ../shared.
TEST(EvalToolTest, BadArgumentsNameTheProblem) {
  const std::string model = ::headroom::testing::EmbeddedModelPath();
  const std::string text = ::headroom::testing::EmbeddedTextPath();
  const std::string eval = BinaryPath("tools/headroom-eval");
  auto no_text = RunTool(eval + " ppl --model " + model);
  EXPECT_EQ(no_text.exit_code, 1);
  EXPECT_THAT(no_text.output, HasSubstr("--text is required"));
  auto bad_range = RunTool(eval + " ppl --model " + model + " --text " + text +
                           " --lines 5:2");
  EXPECT_EQ(bad_range.exit_code, 1);
  EXPECT_THAT(bad_range.output, HasSubstr("--lines expects A:B"));
  auto past_end = RunTool(eval + " ppl --model " + model + " --text " + text +
                          " --lines 1:999999");
  EXPECT_EQ(past_end.exit_code, 1);
  EXPECT_THAT(past_end.output, HasSubstr("non-empty lines"));
  auto unknown = RunTool(eval + " ppl --model " + model + " --txt " + text);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.output, HasSubstr("unknown flag --txt"));
  auto no_model =
      RunTool(eval + " ppl --model /nonexistent.bin --text " + text);
  EXPECT_EQ(no_model.exit_code, 1);
  EXPECT_THAT(no_model.output, HasSubstr("/nonexistent.bin"));
}

}  // namespace
}  // namespace headroom
