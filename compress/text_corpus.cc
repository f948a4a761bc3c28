#include "compress/text_corpus.h"

#include <fstream>

#include "absl/strings/str_cat.h"

namespace headroom::compress {

absl::StatusOr<std::vector<std::string>> ReadNonEmptyLines(
    const std::string& path, int first, int last) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open text ", path));
  if (first < 1 || (last != 0 && last < first)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "line range ", first, ":", last, " is not valid for ", path));
  }
  std::vector<std::string> lines;
  std::string line;
  int index = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // "Non-empty" is literal: a line holding only a space still counts, as
    // in the reference perplexity setup (TinyStories has two such lines).
    if (line.empty()) continue;
    ++index;
    if (index < first) continue;
    if (last != 0 && index > last) break;
    lines.push_back(line);
  }
  if (last != 0 && index < last) {
    return absl::OutOfRangeError(absl::StrCat(
        path, " has ", index, " non-empty lines; the range asks for ", first,
        ":", last));
  }
  if (lines.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no non-empty lines in the range ", first, ":",
                     last == 0 ? std::string("end") : std::to_string(last)));
  }
  return lines;
}

}  // namespace headroom::compress
