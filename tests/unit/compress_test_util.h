// Shared steps of the compression tests: load a shared model, calibrate,
// compress, and measure perplexity in-process.
#ifndef HEADROOM_TESTS_UNIT_COMPRESS_TEST_UTIL_H_
#define HEADROOM_TESTS_UNIT_COMPRESS_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "compress/calibration.h"
#include "compress/projections.h"
#include "runtime/model/model_weights.h"
#include "runtime/tokenizers/tokenizer.h"

namespace headroom::compress::testing {

struct LoadedModel {
  runtime::ModelWeights weights;
  std::unique_ptr<runtime::Tokenizer> tokenizer;
};

// Loads the model at `model_path` (one of ../shared or the embedded
// headroom-tiny) and its tokenizer; fails the test on error.
LoadedModel LoadShared(const std::string& model_path);

CalibrationStats CalibrateOn(const LoadedModel& model,
                             const std::vector<std::string>& texts);

// Perplexity of `texts` with `projections` applied (nullptr: original).
double Perplexity(const LoadedModel& model, const Projections* projections,
                  const std::vector<std::string>& texts);

Projections Compress(const LoadedModel& model, const CalibrationStats& stats,
                     const std::string& method, int kv_heads);

std::vector<std::string> Lines(const std::string& path, int first, int last);

}  // namespace headroom::compress::testing

#endif  // HEADROOM_TESTS_UNIT_COMPRESS_TEST_UTIL_H_
