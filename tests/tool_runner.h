// Runs a built command-line tool and captures its output, for tool tests.
#ifndef HEADROOM_TESTS_TOOL_RUNNER_H_
#define HEADROOM_TESTS_TOOL_RUNNER_H_

#include <string>

namespace headroom::testing {

struct ToolResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
  std::string stdout_text;
};

// Runs `command` through /bin/sh; stderr goes to `output` only.
ToolResult RunTool(const std::string& command);

}  // namespace headroom::testing

#endif  // HEADROOM_TESTS_TOOL_RUNNER_H_
