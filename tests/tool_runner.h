// Runs a built command-line tool and captures its output, for tool tests.
#ifndef HEADROOM_TESTS_TOOL_RUNNER_H_
#define HEADROOM_TESTS_TOOL_RUNNER_H_

#include <string>

#include "nlohmann/json.hpp"

namespace headroom::testing {

struct ToolResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
  std::string stdout_text;
};

// Runs `command` through /bin/sh; stderr goes to `output` only.
ToolResult RunTool(const std::string& command);

// The last non-empty line of `text` parsed as JSON (the tools' result line).
nlohmann::json LastJsonLine(const std::string& text);

}  // namespace headroom::testing

#endif  // HEADROOM_TESTS_TOOL_RUNNER_H_
