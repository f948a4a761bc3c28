#include "tools/synthetic_weights.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/weights/hf_checkpoint.h"

namespace headroom::tools {
namespace {

// SplitMix64 (Steele, Lea and Flood 2014): a fast counter-based generator,
// so each row is generated independently of the others.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// FNV-1a of the tensor name: a stable per-tensor stream.
uint64_t NameHash(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : name) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

runtime::ModelConfig Shape(int dim, int hidden, int layers, int heads,
                           int kv_heads, int vocab, int context, float theta,
                           bool tied) {
  runtime::ModelConfig c;
  c.dim = dim;
  c.hidden_dim = hidden;
  c.n_layers = layers;
  c.n_heads = heads;
  c.n_kv_heads = kv_heads;
  c.head_dim = dim / heads;
  c.vocab_size = vocab;
  c.max_seq_len = context;
  c.rope_theta = theta;
  c.norm_eps = 1e-5f;
  c.tied_embeddings = tied;
  return c;
}

}  // namespace

absl::StatusOr<runtime::ModelConfig> SyntheticShape(std::string_view name) {
  if (name == "default") {
    return Shape(1024, 2816, 12, 16, 16, 32000, 2048, 10000.0f, true);
  }
  if (name == "llama2-7b") {
    return Shape(4096, 11008, 32, 32, 32, 32000, 4096, 10000.0f, false);
  }
  if (name == "llama2-13b") {
    return Shape(5120, 13824, 40, 40, 40, 32000, 4096, 10000.0f, false);
  }
  if (name == "llama3-8b") {
    return Shape(4096, 14336, 32, 32, 8, 128256, 8192, 500000.0f, false);
  }
  if (name == "tinyllama-1.1b") {
    return Shape(2048, 5632, 22, 32, 4, 32000, 2048, 10000.0f, false);
  }
  if (name == "llama3.1-8b") {
    runtime::ModelConfig c =
        Shape(4096, 14336, 32, 32, 8, 128256, 131072, 500000.0f, false);
    c.rope_scaling = {runtime::RopeScaling::Type::kLlama3, 8.0f, 1.0f, 4.0f,
                      8192};
    return c;
  }
  if (name == "mistral-7b") {  // v0.1
    runtime::ModelConfig c =
        Shape(4096, 14336, 32, 32, 8, 32000, 32768, 10000.0f, false);
    c.sliding_window = 4096;
    return c;
  }
  if (name == "qwen2.5-7b") {
    runtime::ModelConfig c =
        Shape(3584, 18944, 28, 28, 4, 152064, 32768, 1000000.0f, false);
    c.qkv_bias = true;
    return c;
  }
  if (name == "qwen3-8b") {
    runtime::ModelConfig c =
        Shape(4096, 12288, 36, 32, 8, 151936, 40960, 1000000.0f, false);
    c.qk_norm = true;
    return c;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--shape: unknown shape \"", std::string(name),
      "\"; expected default, llama2-7b, llama2-13b, llama3-8b, llama3.1-8b, "
      "tinyllama-1.1b, mistral-7b, qwen2.5-7b or qwen3-8b"));
}

absl::Status ApplySyntheticArchitecture(std::string_view arch,
                                        int sliding_window,
                                        runtime::ModelConfig* c) {
  if (arch.empty()) return absl::OkStatus();
  c->qkv_bias = c->output_bias = c->mlp_bias = c->qk_norm = false;
  c->sliding_window = 0;
  if (arch == "llama") return absl::OkStatus();
  if (arch == "mistral") {
    c->sliding_window = sliding_window;
    return absl::OkStatus();
  }
  if (arch == "qwen2") {
    c->qkv_bias = true;
    return absl::OkStatus();
  }
  if (arch == "qwen3") {
    c->qk_norm = true;
    return absl::OkStatus();
  }
  if (arch == "llama-bias") {  // attention_bias and mlp_bias
    c->qkv_bias = c->output_bias = c->mlp_bias = true;
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--arch: unknown architecture \"", std::string(arch),
                   "\"; expected llama, llama-bias, mistral, qwen2 or qwen3"));
}

int64_t SyntheticParameterCount(const runtime::ModelConfig& c) {
  int64_t n = 0;
  for (const runtime::HfTensorSpec& spec : runtime::HfTensorSpecs(c)) {
    int64_t numel = 1;
    for (int64_t dim : spec.shape) numel *= dim;
    n += numel;
  }
  return n;
}

void SyntheticWeights::Row(std::string_view name,
                           const std::vector<int64_t>& shape, int64_t row,
                           float* out) const {
  const int64_t n = shape.back();
  if (shape.size() == 1 &&
      !absl::EndsWith(absl::string_view(name.data(), name.size()), ".bias")) {
    for (int64_t i = 0; i < n; ++i) out[i] = 1.0f;  // a norm
    return;
  }
  // Uniform on [-a, a] has standard deviation a / sqrt(3): a = 0.0346 gives
  // 0.02. The top 24 bits of each draw make a float in [0, 1).
  const float a = 0.0346f * scale_;
  uint64_t state = SplitMix64(seed_ ^ NameHash(name)) ^
                   (static_cast<uint64_t>(row) * 0xd1342543de82ef95ull);
  for (int64_t i = 0; i < n; ++i) {
    state = SplitMix64(state);
    const float unit = static_cast<float>(state >> 40) * (1.0f / 16777216.0f);
    out[i] = (2.0f * unit - 1.0f) * a;
  }
}

runtime::ModelWeights SyntheticWeights::Model(
    const runtime::ModelConfig& c) const {
  runtime::ModelWeights w;
  w.config = c;
  w.layers.resize(c.n_layers);
  for (const runtime::HfTensorSpec& spec : runtime::HfTensorSpecs(c)) {
    const runtime::HfTensorSlot slot = runtime::SlotOf(w, spec);
    const int64_t rows = spec.shape.size() == 2 ? spec.shape[0] : 1;
    const int64_t cols = spec.shape.back();
    std::vector<float> values(rows * cols);
    for (int64_t r = 0; r < rows; ++r) {
      Row(spec.name, spec.shape, r, values.data() + r * cols);
    }
    if (slot.matrix != nullptr) {
      *slot.matrix = runtime::Tensor::FromF32(std::move(values), rows, cols);
    } else {
      *slot.vector = std::move(values);
    }
  }
  return w;
}

}  // namespace headroom::tools
