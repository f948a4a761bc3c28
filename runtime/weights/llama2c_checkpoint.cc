#include "runtime/weights/llama2c_checkpoint.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace headroom::runtime {
namespace {

constexpr int kHeaderInts = 7;

// Reads consecutive fp32 tensors out of the checkpoint body, tracking the
// offset so an error can say which tensor ran past the end.
class TensorReader {
 public:
  TensorReader(std::ifstream& in, std::string path)
      : in_(in), path_(std::move(path)) {}

  absl::Status Read(std::vector<float>& out, int64_t count,
                    const std::string& name) {
    out.resize(count);
    in_.read(reinterpret_cast<char*>(out.data()), count * sizeof(float));
    if (!in_) {
      return absl::DataLossError(
          absl::StrCat(path_, ": truncated while reading tensor ", name, " (",
                       count, " floats at byte offset ", offset_, ")"));
    }
    offset_ += count * static_cast<int64_t>(sizeof(float));
    return absl::OkStatus();
  }
  absl::Status Skip(int64_t count, const std::string& name) {
    in_.seekg(count * static_cast<int64_t>(sizeof(float)), std::ios::cur);
    offset_ += count * static_cast<int64_t>(sizeof(float));
    if (!in_) {
      return absl::DataLossError(
          absl::StrCat(path_, ": truncated while skipping ", name));
    }
    return absl::OkStatus();
  }
  void set_offset(int64_t offset) { offset_ = offset; }

 private:
  std::ifstream& in_;
  std::string path_;
  int64_t offset_ = 0;
};

// Number of floats the body holds for `c` (classifier included when untied).
int64_t ExpectedFloats(const ModelConfig& c) {
  const int64_t D = c.dim, L = c.n_layers, F = c.hidden_dim;
  const int64_t q = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv = int64_t{c.n_kv_heads} * c.head_dim;
  int64_t n = int64_t{c.vocab_size} * D;        // token_embedding
  n += L * D;                                   // rms_att
  n += L * q * D + 2 * L * kv * D + L * D * q;  // wq, wk, wv, wo
  n += L * D;                                   // rms_ffn
  n += 3 * L * F * D;                           // w1, w2, w3
  n += D;                                       // rms_final
  n += int64_t{c.max_seq_len} * c.head_dim;     // two RoPE tables, hd/2 each
  if (!c.tied_embeddings) n += int64_t{c.vocab_size} * D;
  return n;
}

}  // namespace

absl::StatusOr<ModelWeights> LoadLlama2cCheckpoint(const std::string& path) {
  std::error_code ec;
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("cannot read checkpoint ", path, ": ", ec.message()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  int32_t h[kHeaderInts];
  in.read(reinterpret_cast<char*>(h), sizeof(h));
  if (!in) {
    return absl::DataLossError(absl::StrCat(
        path, ": file of ", file_size, " bytes is shorter than the ", sizeof(h),
        "-byte llama2.c header"));
  }
  ModelWeights w;
  ModelConfig& c = w.config;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.tied_embeddings = h[5] > 0;
  c.vocab_size = h[5] > 0 ? h[5] : -static_cast<int64_t>(h[5]);
  c.max_seq_len = h[6];
  c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
  c.rope_style = RopeStyle::kInterleaved;
  c.rope_theta = 10000.0f;
  c.norm_eps = 1e-5f;
  if (c.n_heads > 0 && c.dim % c.n_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header dim ", c.dim,
                     " is not a multiple of n_heads ", c.n_heads));
  }
  if (auto s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad llama2.c header: ", s.message()));
  }
  const int64_t expected = sizeof(h) + ExpectedFloats(c) * sizeof(float);
  if (static_cast<int64_t>(file_size) != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header (dim ", c.dim, ", hidden ", c.hidden_dim, ", layers ",
        c.n_layers, ", heads ", c.n_heads, ", kv heads ", c.n_kv_heads,
        ", vocab ", c.vocab_size, ", seq_len ", c.max_seq_len, ", classifier ",
        c.tied_embeddings ? "shared" : "separate", ") implies ", expected,
        " bytes but the file has ", file_size));
  }

  const int64_t D = c.dim, L = c.n_layers, F = c.hidden_dim;
  const int64_t q = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv = int64_t{c.n_kv_heads} * c.head_dim;
  TensorReader r(in, path);
  r.set_offset(sizeof(h));
  if (auto s = r.Read(w.token_embedding, c.vocab_size * D, "token_embedding");
      !s.ok())
    return s;
  w.layers.resize(L);
  // The file stores each tensor kind for all layers together.
  std::vector<float> all;
  auto read_per_layer = [&](int64_t per_layer, const char* name,
                            std::vector<float> LayerWeights::*field) {
    if (auto s = r.Read(all, L * per_layer, name); !s.ok()) return s;
    for (int64_t l = 0; l < L; ++l) {
      (w.layers[l].*field)
          .assign(all.begin() + l * per_layer,
                  all.begin() + (l + 1) * per_layer);
    }
    return absl::OkStatus();
  };
  struct Item {
    int64_t per_layer;
    const char* name;
    std::vector<float> LayerWeights::*field;
  };
  const Item items[] = {{D, "rms_att", &LayerWeights::rms_att},
                        {q * D, "wq", &LayerWeights::wq},
                        {kv * D, "wk", &LayerWeights::wk},
                        {kv * D, "wv", &LayerWeights::wv},
                        {D * q, "wo", &LayerWeights::wo},
                        {D, "rms_ffn", &LayerWeights::rms_ffn},
                        {F * D, "w1", &LayerWeights::w1},
                        {D * F, "w2", &LayerWeights::w2},
                        {F * D, "w3", &LayerWeights::w3}};
  for (const Item& it : items) {
    if (auto s = read_per_layer(it.per_layer, it.name, it.field); !s.ok())
      return s;
  }
  if (auto s = r.Read(w.rms_final, D, "rms_final"); !s.ok()) return s;
  // Precomputed RoPE tables (freq_cis_real, freq_cis_imag): unused; the
  // runtime computes the rotation from rope_theta.
  if (auto s = r.Skip(int64_t{c.max_seq_len} * c.head_dim, "rope tables");
      !s.ok())
    return s;
  if (!c.tied_embeddings) {
    if (auto s = r.Read(w.wcls, c.vocab_size * D, "wcls"); !s.ok()) return s;
  }
  if (auto s = w.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  if (auto s = w.CheckFinite(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  return w;
}

absl::Status WriteLlama2cCheckpoint(const ModelWeights& weights,
                                    const std::string& path) {
  const ModelConfig& c = weights.config;
  if (auto s = weights.Validate(); !s.ok()) return s;
  if (c.rope_style != RopeStyle::kInterleaved) {
    return absl::FailedPreconditionError(
        "llama2.c checkpoints use interleaved RoPE pairs; this model uses "
        "rotate_half");
  }
  for (int l = 0; l < c.n_layers; ++l) {
    if (weights.layers[l].has_post_rope_proj() ||
        c.CacheKvHeads(l) != c.n_kv_heads) {
      return absl::FailedPreconditionError(absl::StrCat(
          "layer ", l,
          " has compressed KV heads; the llama2.c format cannot hold them"));
    }
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError("cannot write " + path);
  const int32_t h[kHeaderInts] = {
      c.dim,        c.hidden_dim,
      c.n_layers,   c.n_heads,
      c.n_kv_heads, c.tied_embeddings ? c.vocab_size : -c.vocab_size,
      c.max_seq_len};
  out.write(reinterpret_cast<const char*>(h), sizeof(h));
  auto put = [&out](const std::vector<float>& t) {
    out.write(reinterpret_cast<const char*>(t.data()),
              static_cast<std::streamsize>(t.size() * sizeof(float)));
  };
  put(weights.token_embedding);
  for (auto field :
       {&LayerWeights::rms_att, &LayerWeights::wq, &LayerWeights::wk,
        &LayerWeights::wv, &LayerWeights::wo, &LayerWeights::rms_ffn,
        &LayerWeights::w1, &LayerWeights::w2, &LayerWeights::w3}) {
    for (const LayerWeights& lw : weights.layers) put(lw.*field);
  }
  put(weights.rms_final);
  // RoPE tables as llama2.c's export writes them (cos, then sin).
  const int half = c.head_dim / 2;
  std::vector<float> cos_table(int64_t{c.max_seq_len} * half);
  std::vector<float> sin_table(cos_table.size());
  for (int pos = 0; pos < c.max_seq_len; ++pos) {
    for (int p = 0; p < half; ++p) {
      const double freq =
          std::pow(static_cast<double>(c.rope_theta), -2.0 * p / c.head_dim);
      cos_table[int64_t{pos} * half + p] =
          static_cast<float>(std::cos(pos * freq));
      sin_table[int64_t{pos} * half + p] =
          static_cast<float>(std::sin(pos * freq));
    }
  }
  put(cos_table);
  put(sin_table);
  if (!c.tied_embeddings) put(weights.wcls);
  out.close();
  if (!out) return absl::DataLossError("failed writing " + path);
  return absl::OkStatus();
}

}  // namespace headroom::runtime
