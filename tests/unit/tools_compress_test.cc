// headroom-compress end to end: the CLI writes a projections file that
// headroom-eval applies, exports a GQA checkpoint, and names bad arguments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/test_support.h"
#include "tests/tool_runner.h"

namespace headroom {
namespace {

using ::headroom::testing::BinaryPath;
using ::headroom::testing::LastJsonLine;
using ::headroom::testing::RunTool;
using ::testing::HasSubstr;

// headroom-compress `model` to 4 KV heads with rope-commuting, calibrated on
// `calib_lines` of `text` (projections file and an exported GQA model in a
// fresh directory), then headroom-eval's perplexity on `eval_lines` with the
// projections and of the export. Failures are test failures.
struct CompressPipeline {
  std::string dir;
  nlohmann::json summary;  // headroom-compress's result line
  std::string eval;        // the headroom-eval ppl command, without --model
  double with_projections = 0.0;
  double exported = 0.0;
};

void RunCompressPipeline(const std::string& model, const std::string& text,
                         const std::string& calib_lines,
                         const std::string& eval_lines, CompressPipeline* p) {
  p->dir = ::headroom::testing::MakeTempDir("compress");
  const std::string out = p->dir + "/p.safetensors";
  auto r = RunTool(BinaryPath("tools/headroom-compress") + " --model " + model +
                   " --calib-text " + text + " --calib-lines " + calib_lines +
                   " --kv-heads 4 --method rope-commuting --out " + out +
                   " --export " + p->dir + "/gqa");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  p->summary = LastJsonLine(r.stdout_text);
  p->eval = BinaryPath("tools/headroom-eval") + " ppl --text " + text +
            " --lines " + eval_lines;
  auto with_projections =
      RunTool(p->eval + " --model " + model + " --projections " + out);
  ASSERT_EQ(with_projections.exit_code, 0) << with_projections.output;
  auto exported = RunTool(p->eval + " --model " + p->dir + "/gqa");
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  p->with_projections =
      LastJsonLine(with_projections.stdout_text)["perplexity"];
  p->exported = LastJsonLine(exported.stdout_text)["perplexity"];
}

TEST(CompressToolTest, CompressEvaluateAndExport) {
  HEADROOM_REQUIRE_SHARED(model,
                          "models/stories260K-mha8/stories260K_mha8.bin");
  HEADROOM_REQUIRE_SHARED(text, "data/tinystories_val.txt");
  CompressPipeline p;
  ASSERT_NO_FATAL_FAILURE(
      RunCompressPipeline(model, text, "1:100", "1:200", &p));
  EXPECT_EQ(p.summary["method"], "rope-commuting");
  EXPECT_EQ(p.summary["kv_heads_per_layer"], nlohmann::json({4, 4, 4, 4, 4}));
  EXPECT_EQ(p.summary["kv_bytes_per_token_original"].get<int>(),
            2 * 5 * 8 * 8 * 4);
  EXPECT_EQ(p.summary["kv_bytes_per_token_served"].get<int>(),
            2 * 5 * 4 * 8 * 4);
  EXPECT_TRUE(std::filesystem::exists(p.dir + "/gqa/config.json"));
  EXPECT_TRUE(std::filesystem::exists(p.dir + "/gqa/tokenizer.bin"));
  // Duplicated heads merge exactly: the reference perplexity holds.
  EXPECT_NEAR(p.with_projections, 4.21896, 4.21896 * 1e-4);
  EXPECT_NEAR(p.exported, p.with_projections, p.with_projections * 1e-5);
}

// The same pipeline on the embedded MHA model (headroom-tiny: 2 layers, 8 KV
// heads of 16) and the tests/data text: runs without ../shared. Its heads
// are not duplicates, so no reference perplexity holds; the export must still
// compute what the projections compute.
TEST(CompressToolTest, CompressEvaluateAndExportEmbeddedModel) {
  const std::string model = ::headroom::testing::EmbeddedModelPath();
  CompressPipeline p;
  ASSERT_NO_FATAL_FAILURE(RunCompressPipeline(
      model, ::headroom::testing::EmbeddedTextPath(), "1:28", "29:40", &p));
  EXPECT_EQ(p.summary["method"], "rope-commuting");
  EXPECT_EQ(p.summary["kv_heads_per_layer"], nlohmann::json({4, 4}));
  // K and V, 2 layers, heads of 16, fp32.
  EXPECT_EQ(p.summary["kv_bytes_per_token_original"].get<int>(),
            2 * 2 * 8 * 16 * 4);
  EXPECT_EQ(p.summary["kv_bytes_per_token_served"].get<int>(),
            2 * 2 * 4 * 16 * 4);
  EXPECT_TRUE(std::filesystem::exists(p.dir + "/gqa/config.json"));
  EXPECT_TRUE(std::filesystem::exists(p.dir + "/gqa/tokenizer.model"));
  auto original = RunTool(p.eval + " --model " + model);
  ASSERT_EQ(original.exit_code, 0) << original.output;
  const double o = LastJsonLine(original.stdout_text)["perplexity"];
  const double a = p.with_projections;
  // Half the KV heads cost some perplexity, but the model is still the
  // model (a broken projection lands near the vocabulary's 512).
  EXPECT_GT(a, o);
  EXPECT_LT(a, 2 * o);
  EXPECT_NEAR(p.exported, a, a * 1e-5);
}

TEST(CompressToolTest, ListMethods) {
  auto r = RunTool(BinaryPath("tools/headroom-compress") + " --list-methods");
  ASSERT_EQ(r.exit_code, 0);
  for (const char* m : {"mean-pool", "svd-w", "svd-a", "rope-commuting",
                        "svd-a-qa", "rope-commuting-qa", "+refit", "auto"}) {
    EXPECT_THAT(r.stdout_text, HasSubstr(m));
  }
}

TEST(CompressToolTest, BadArgumentsNameTheProblem) {
  const std::string model = ::headroom::testing::EmbeddedModelPath();
  const std::string text = ::headroom::testing::EmbeddedTextPath();
  const std::string base = BinaryPath("tools/headroom-compress") + " --model " +
                           model + " --calib-text " + text +
                           " --calib-lines 1:20 --out /tmp/unused.st";
  auto bad_g = RunTool(base + " --kv-heads 3 --method svd-a");
  EXPECT_EQ(bad_g.exit_code, 1);
  EXPECT_THAT(bad_g.output, HasSubstr("--kv-heads 3 must divide"));
  auto bad_method = RunTool(base + " --kv-heads 2 --method svd-z");
  EXPECT_THAT(bad_method.output, HasSubstr("unknown method 'svd-z'"));
  auto no_g = RunTool(base + " --method svd-a");
  EXPECT_THAT(no_g.output,
              HasSubstr("give one of --kv-heads G or --kv-budget F"));
  auto both = RunTool(base + " --kv-heads 2 --kv-budget 0.5 --method svd-a");
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_THAT(both.output, HasSubstr("give one of --kv-heads G or"));
  // headroom-tiny has 8 KV heads: a budget under 1/8 cannot be met.
  auto tiny_budget = RunTool(base + " --kv-budget 0.1 --method svd-a");
  EXPECT_EQ(tiny_budget.exit_code, 1);
  EXPECT_THAT(tiny_budget.output, HasSubstr("--kv-budget 0.1 must be in [1/8"));
  // 0 is "not given" in the settings, but a --kv-budget of 0 was given.
  auto zero_budget = RunTool(base + " --kv-budget 0 --method svd-a");
  EXPECT_EQ(zero_budget.exit_code, 1);
  EXPECT_THAT(zero_budget.output, HasSubstr("--kv-budget 0 must be > 0"));
  auto bad_calib_tokens =
      RunTool(base + " --kv-heads 2 --method svd-a --calib-tokens -1");
  EXPECT_EQ(bad_calib_tokens.exit_code, 1);
  EXPECT_THAT(bad_calib_tokens.output,
              HasSubstr("--calib-tokens -1 must be >= 0"));
  auto bad_holdback =
      RunTool(base + " --kv-heads 2 --method svd-a --holdback-tokens -5");
  EXPECT_EQ(bad_holdback.exit_code, 1);
  EXPECT_THAT(bad_holdback.output, HasSubstr("--holdback-tokens -5"));
  auto bad_ridge =
      RunTool(base + " --kv-heads 2 --method svd-a --refit-ridge -1");
  EXPECT_EQ(bad_ridge.exit_code, 1);
  EXPECT_THAT(bad_ridge.output, HasSubstr("--refit-ridge -1 must be >= 0"));
  auto bad_inputs =
      RunTool(base + " --kv-heads 2 --method svd-a+refit --refit-inputs x");
  EXPECT_EQ(bad_inputs.exit_code, 1);
  EXPECT_THAT(bad_inputs.output,
              HasSubstr("--refit-inputs 'x' must be original or propagated"));
  auto bad_refit_tokens =
      RunTool(base + " --kv-heads 2 --method svd-a+refit --refit-tokens 0");
  EXPECT_THAT(bad_refit_tokens.output, HasSubstr("--refit-tokens 0 must be"));
  auto propagated_auto =
      RunTool(base + " --kv-heads 2 --method auto --refit-inputs propagated");
  EXPECT_EQ(propagated_auto.exit_code, 1);
  EXPECT_THAT(propagated_auto.output,
              HasSubstr("refit on propagated inputs takes a named"));
  // Nothing held back: auto and budgets refuse instead of choosing on the
  // statistics' own lines.
  auto none_held =
      RunTool(base + " --kv-budget 0.5 --method svd-a --holdback-tokens 0");
  EXPECT_EQ(none_held.exit_code, 1);
  EXPECT_THAT(none_held.output, HasSubstr("none were held back"));
  auto export_svda = RunTool(base + " --kv-heads 2 --method svd-a --export " +
                             ::headroom::testing::MakeTempDir("x"));
  EXPECT_EQ(export_svda.exit_code, 1);
  EXPECT_THAT(export_svda.output, HasSubstr("--export"));
  auto wrong_projections =
      RunTool(BinaryPath("tools/headroom-eval") + " ppl --model " + model +
              " --text " + text + " --lines 1:5 --projections /nonexistent.st");
  EXPECT_EQ(wrong_projections.exit_code, 1);
  EXPECT_THAT(wrong_projections.output, HasSubstr("/nonexistent.st"));
}

}  // namespace
}  // namespace headroom
