// CliArgs: a small --flag VALUE parser for the command-line tools, with
// errors that name the flag.
#ifndef HEADROOM_TOOLS_CLI_ARGS_H_
#define HEADROOM_TOOLS_CLI_ARGS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace headroom::tools {

struct FlagSpec {
  std::string name;  // without the leading "--"
  bool takes_value = true;
};

class CliArgs {
 public:
  // Parses argv[first..argc). Accepts "--name value" and "--name=value";
  // an unknown flag or a missing value is an error naming it.
  static absl::StatusOr<CliArgs> Parse(int argc, char** argv, int first,
                                       const std::vector<FlagSpec>& specs);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name,
                  const std::string& fallback = "") const;
  absl::StatusOr<std::string> Require(const std::string& name) const;
  absl::StatusOr<int> GetInt(const std::string& name, int fallback) const;
  absl::StatusOr<double> GetDouble(const std::string& name,
                                   double fallback) const;
  // "A:B" (both >= 1, A <= B); `present` tells whether the flag was given.
  absl::StatusOr<std::pair<int, int>> GetRange(const std::string& name,
                                               bool* present) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// A tool's main(): runs `run` and returns 0, or prints "NAME: message" to
// stderr and returns 1.
int RunToolMain(const char* name, int argc, char** argv,
                absl::Status (*run)(int, char**));

}  // namespace headroom::tools

#endif  // HEADROOM_TOOLS_CLI_ARGS_H_
