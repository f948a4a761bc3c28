// Reading calibration and evaluation text: each non-empty line of a file is
// one sequence.
#ifndef HEADROOM_COMPRESS_TEXT_CORPUS_H_
#define HEADROOM_COMPRESS_TEXT_CORPUS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace headroom::compress {

// Non-empty lines first..last (counted from 1 over non-empty lines only,
// inclusive) of `path`; last == 0 means to the end. A trailing '\r' is
// dropped (CRLF files). Errors name the file and the range.
absl::StatusOr<std::vector<std::string>> ReadNonEmptyLines(
    const std::string& path, int first = 1, int last = 0);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_TEXT_CORPUS_H_
