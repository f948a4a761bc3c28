#include "tests/unit/compress_test_util.h"

#include <gtest/gtest.h>

#include "compress/apply.h"
#include "compress/compressor.h"
#include "compress/perplexity.h"
#include "compress/text_corpus.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/weights/model_loader.h"

namespace headroom::compress::testing {

LoadedModel LoadShared(const std::string& model_path) {
  LoadedModel m;
  auto w = runtime::LoadModel(model_path);
  EXPECT_TRUE(w.ok()) << w.status();
  m.weights = std::move(*w);
  auto tok_path = runtime::FindTokenizerFor(model_path);
  EXPECT_TRUE(tok_path.ok()) << tok_path.status();
  auto tok = runtime::LoadTokenizer(*tok_path, m.weights.config.vocab_size);
  EXPECT_TRUE(tok.ok()) << tok.status();
  m.tokenizer = std::move(*tok);
  return m;
}

CalibrationStats CalibrateOn(const LoadedModel& model,
                             const std::vector<std::string>& texts) {
  CalibrationOptions options;
  // Small activation samples and held-back text keep refit, `auto` and
  // budgets quick in tests.
  options.max_fit_sample_tokens = 2048;
  options.max_select_sample_tokens = 1024;
  options.holdback_tokens = 2048;
  auto stats = Calibrate(model.weights, *model.tokenizer, texts, options,
                         /*threads=*/1);
  EXPECT_TRUE(stats.ok()) << stats.status();
  return std::move(*stats);
}

double Perplexity(const LoadedModel& model, const Projections* projections,
                  const std::vector<std::string>& texts) {
  runtime::ModelWeights w = model.weights;
  if (projections != nullptr) {
    auto s = ApplyProjections(*projections, &w);
    EXPECT_TRUE(s.ok()) << s;
    if (!s.ok()) return -1.0;
  }
  auto backend = runtime::CreateCpuBackend(std::move(w), {});
  EXPECT_TRUE(backend.ok()) << backend.status();
  auto r = EvaluatePerplexity(**backend, *model.tokenizer, texts);
  EXPECT_TRUE(r.ok()) << r.status();
  return r->perplexity();
}

Projections Compress(const LoadedModel& model, const CalibrationStats& stats,
                     const std::string& method, int kv_heads) {
  CompressOptions options;
  options.method = method;
  options.kv_heads = kv_heads;
  auto p = ComputeProjections(model.weights, stats, options);
  EXPECT_TRUE(p.ok()) << method << ": " << p.status();
  return std::move(*p);
}

std::vector<std::string> Lines(const std::string& path, int first, int last) {
  auto lines = ReadNonEmptyLines(path, first, last);
  EXPECT_TRUE(lines.ok()) << lines.status();
  return std::move(*lines);
}

}  // namespace headroom::compress::testing
