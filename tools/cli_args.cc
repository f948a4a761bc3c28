#include "tools/cli_args.h"

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace headroom::tools {

absl::StatusOr<CliArgs> CliArgs::Parse(int argc, char** argv, int first,
                                       const std::vector<FlagSpec>& specs) {
  CliArgs args;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      args.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& s : specs) {
      if (s.name == name) spec = &s;
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (spec->takes_value && !inline_value) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " needs a value"));
      }
      value = argv[++i];
    }
    args.values_[name] = value;
  }
  return args;
}

std::string CliArgs::Get(const std::string& name,
                         const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<std::string> CliArgs::Require(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " is required"));
  }
  return it->second;
}

absl::StatusOr<int> CliArgs::GetInt(const std::string& name,
                                    int fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int v;
  if (!absl::SimpleAtoi(it->second, &v)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, " expects an integer, got '", it->second, "'"));
  }
  return v;
}

absl::StatusOr<double> CliArgs::GetDouble(const std::string& name,
                                          double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  double v;
  if (!absl::SimpleAtod(it->second, &v)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, " expects a number, got '", it->second, "'"));
  }
  return v;
}

absl::StatusOr<std::pair<int, int>> CliArgs::GetRange(const std::string& name,
                                                      bool* present) const {
  auto it = values_.find(name);
  *present = it != values_.end();
  if (!*present) return std::pair<int, int>{0, 0};
  std::vector<std::string> parts = absl::StrSplit(it->second, ':');
  int a, b;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &a) ||
      !absl::SimpleAtoi(parts[1], &b) || a < 1 || b < a) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " expects A:B with 1 <= A <= B, got '",
                     it->second, "'"));
  }
  return std::pair<int, int>{a, b};
}

int RunToolMain(const char* name, int argc, char** argv,
                absl::Status (*run)(int, char**)) {
  const absl::Status s = run(argc, argv);
  if (s.ok()) return 0;
  std::cerr << name << ": " << s.message() << "\n";
  return 1;
}

}  // namespace headroom::tools
