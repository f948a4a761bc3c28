// headroom-generate against the llama2.c reference greedy story
// (../shared/testdata/stories260K_greedy_bos.txt), and its argument errors,
// including the device choice.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/backend_factory.h"
#include "tests/test_support.h"
#include "tests/tool_runner.h"

namespace headroom {
namespace {

using ::headroom::testing::BinaryPath;
using ::headroom::testing::ReadTextFile;
using ::headroom::testing::RunTool;
using ::testing::HasSubstr;

TEST(GenerateToolTest, GreedyStoryIsTheReference) {
  HEADROOM_REQUIRE_SHARED(model, "models/stories260K/stories260K.bin");
  HEADROOM_REQUIRE_SHARED(reference, "testdata/stories260K_greedy_bos.txt");
  // The reference generated 200 tokens from BOS; the tool prints the prompt
  // (empty) and then the text as it goes.
  auto r = RunTool(BinaryPath("tools/headroom-generate") + " --model " + model +
                   " --max-tokens 200 --device cpu");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string expected = ReadTextFile(reference);
  while (!expected.empty() && expected.back() == '\n') expected.pop_back();
  std::string got = r.stdout_text;
  while (!got.empty() && got.back() == '\n') got.pop_back();
  EXPECT_EQ(got, expected);
}

// On the embedded model: runs without ../shared.
TEST(GenerateToolTest, BadDeviceAndDtypeNameTheFlag) {
  const std::string generate = BinaryPath("tools/headroom-generate") +
                               " --model " +
                               ::headroom::testing::EmbeddedModelPath();
  auto device = RunTool(generate + " --device tpu");
  EXPECT_EQ(device.exit_code, 1);
  EXPECT_THAT(device.output, HasSubstr("device: unknown device \"tpu\""));
  auto dtype = RunTool(generate + " --device cuda --dtype fp8");
  EXPECT_EQ(dtype.exit_code, 1);
  EXPECT_THAT(dtype.output, HasSubstr("dtype: unknown dtype \"fp8\""));
  if (!runtime::CheckDeviceAvailable(runtime::Device::kCuda).ok()) {
    auto cuda = RunTool(generate + " --device cuda --max-tokens 4");
    EXPECT_EQ(cuda.exit_code, 1);
    EXPECT_THAT(cuda.output, HasSubstr("device: cuda was requested but"));
  }
}

}  // namespace
}  // namespace headroom
