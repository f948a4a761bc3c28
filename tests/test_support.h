// Helpers shared by the tests: where ../shared lives, and JSON reading.
#ifndef HEADROOM_TESTS_TEST_SUPPORT_H_
#define HEADROOM_TESTS_TEST_SUPPORT_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "nlohmann/json.hpp"
#include "runtime/backend.h"
#include "runtime/model/model_config.h"

namespace headroom::testing {

// Absolute path of `relative` under ../shared, or "" when it does not exist.
std::string SharedPath(const std::string& relative);
// models/headroom-tiny in the source tree (HF layout, its own tokenizer):
// the model for tests that need some model but not stories260K's reference
// values, so that they run without ../shared.
std::string EmbeddedModelPath();
// tests/data/tiny_stories.txt: 40 non-empty lines of short stories written
// for the tests (not TinyStories itself), in the vocabulary headroom-tiny
// was trained on: lines kEmbeddedCalibFirst:kEmbeddedCalibLast calibrate,
// the disjoint lines kEmbeddedEvalFirst:kEmbeddedEvalLast evaluate.
std::string EmbeddedTextPath();
inline constexpr int kEmbeddedCalibFirst = 1, kEmbeddedCalibLast = 28;
inline constexpr int kEmbeddedEvalFirst = 29, kEmbeddedEvalLast = 40;
// Path of a built binary (e.g. "tools/headroom-eval") in the build tree.
std::string BinaryPath(const std::string& relative);
// A fresh empty directory under the test's temporary directory.
std::string MakeTempDir(const std::string& name);
nlohmann::json ReadJsonFile(const std::string& path);
std::string ReadTextFile(const std::string& path);
// `count` draws of N(0, stddev^2) from `rng`: test inputs for kernels.
std::vector<float> NormalValues(int64_t count, std::mt19937& rng,
                                float stddev = 1.0f);

// Greedy (argmax) continuation of `prompt` for `steps` tokens on `backend`,
// one sequence; failures are test failures.
std::vector<int> GreedyTokens(runtime::Backend& backend,
                              const std::vector<int>& prompt, int steps);

// How far one logit of `row_logits` (the vocab_size logits of one position)
// may move when the same fp32 forward pass of model `c` only sums in another
// order: another GEMM shape (batched vs alone, chunked vs whole prefill),
// another BLAS kernel (OPENBLAS_CORETYPE), another pairing of q.k terms.
// Nothing here is exact across BLAS builds, so tests that compare two such
// evaluations use this bound instead of a fixed one. The reasoning:
//  - a reordered fp32 sum of n terms differs by at most about n * eps times
//    the sum of the terms' magnitudes (eps = FLT_EPSILON); the longest sum in
//    the model is n = max(dim, hidden_dim) (heads, positions are shorter in
//    the models tested, which are what the caller compares);
//  - a logit is a dot product of the final (RMS-normed) hidden state with a
//    classifier row, so the magnitude of its terms is of the order of the
//    row's largest |logit| (at least 1 to cover rows of small logits);
//  - every layer perturbs the residual stream by such a relative amount and
//    the perturbations of the n_layers layers add (RMSNorm rescales each).
// So the bound is n_layers * max(dim, hidden_dim) * eps * max(1, max|logit|).
// It is a worst case for rounding only: a wrong position, page or mask moves
// logits by orders of magnitude more (~0.1 to 10 on these models).
float ReorderingTolerance(const runtime::ModelConfig& c,
                          absl::Span<const float> row_logits);

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
