// Helpers shared by the tests: where ../shared lives, and JSON reading.
#ifndef HEADROOM_TESTS_TEST_SUPPORT_H_
#define HEADROOM_TESTS_TEST_SUPPORT_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/backend.h"

namespace headroom::testing {

// Absolute path of `relative` under ../shared, or "" when it does not exist.
std::string SharedPath(const std::string& relative);
// Path of a built binary (e.g. "tools/headroom-eval") in the build tree.
std::string BinaryPath(const std::string& relative);
// A fresh empty directory under the test's temporary directory.
std::string MakeTempDir(const std::string& name);
nlohmann::json ReadJsonFile(const std::string& path);
std::string ReadTextFile(const std::string& path);

// Greedy (argmax) continuation of `prompt` for `steps` tokens on `backend`,
// one sequence; failures are test failures.
std::vector<int> GreedyTokens(runtime::Backend& backend,
                              const std::vector<int>& prompt, int steps);

}  // namespace headroom::testing

// Skips the current test with a clear message when a ../shared file is
// absent; otherwise sets `var` to its absolute path.
#define HEADROOM_REQUIRE_SHARED(var, relative)                            \
  std::string var = ::headroom::testing::SharedPath(relative);            \
  if (var.empty()) {                                                      \
    GTEST_SKIP() << "../shared/" << (relative)                            \
                 << " is absent: this test needs the shared models/data " \
                    "beside the project root";                            \
  }

#endif  // HEADROOM_TESTS_TEST_SUPPORT_H_
