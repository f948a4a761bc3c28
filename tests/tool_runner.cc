#include "tests/tool_runner.h"

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/test_support.h"

namespace headroom::testing {

ToolResult RunTool(const std::string& command) {
  ToolResult result;
  const std::string dir = MakeTempDir("tool");
  const std::string out = dir + "/stdout", err = dir + "/stderr";
  const int status =
      std::system((command + " >" + out + " 2>" + err).c_str());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.stdout_text = ReadTextFile(out);
  result.output = result.stdout_text + ReadTextFile(err);
  return result;
}

nlohmann::json LastJsonLine(const std::string& text) {
  std::string s = text;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const size_t nl = s.rfind('\n');
  return nlohmann::json::parse(nl == std::string::npos ? s : s.substr(nl + 1));
}

}  // namespace headroom::testing
