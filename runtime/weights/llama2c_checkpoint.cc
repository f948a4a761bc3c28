#include "runtime/weights/llama2c_checkpoint.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "runtime/weights/mapped_file.h"

namespace headroom::runtime {
namespace {

constexpr int kHeaderInts = 7;

// Walks the fp32 tensors of the mapped checkpoint body in order. The file
// size was checked against the header first, so every range lies inside
// the mapping.
class TensorWalker {
 public:
  TensorWalker(std::shared_ptr<const MappedFile> file, int64_t offset)
      : file_(std::move(file)), offset_(offset) {}

  // The next `count` floats as a vector (norms).
  std::vector<float> Vector(int64_t count) {
    std::vector<float> out(count);
    std::memcpy(out.data(), Next(count), count * sizeof(float));
    return out;
  }
  // The next [rows, cols] floats as a matrix served in `wanted`.
  absl::StatusOr<Tensor> Matrix(int64_t rows, int64_t cols,
                                std::optional<WeightDtype> wanted,
                                const std::string& name) {
    const uint8_t* bytes = Next(rows * cols);
    auto tensor =
        TensorFromStored(WeightDtype::kF32, rows, cols, bytes, file_, wanted,
                         absl::StrCat(file_->path(), ": ", name));
    // A converted tensor no longer needs its source pages resident.
    if (tensor.ok() && !tensor->is_view()) {
      file_->DropPages(bytes, rows * cols * sizeof(float));
    }
    return tensor;
  }
  void Skip(int64_t count) { Next(count); }

 private:
  const uint8_t* Next(int64_t count) {
    const uint8_t* at = file_->data() + offset_;
    offset_ += count * static_cast<int64_t>(sizeof(float));
    return at;
  }

  std::shared_ptr<const MappedFile> file_;
  int64_t offset_;
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

absl::StatusOr<ModelWeights> LoadLlama2cCheckpoint(
    const std::string& path, std::optional<WeightDtype> weights_dtype) {
  auto mapped = MappedFile::Open(path);
  if (!mapped.ok()) {
    return absl::NotFoundError(absl::StrCat("cannot read checkpoint ", path,
                                            ": ", mapped.status().message()));
  }
  const std::shared_ptr<const MappedFile> file = *std::move(mapped);
  const uint64_t file_size = file->size();
  int32_t h[kHeaderInts];
  if (file_size < sizeof(h)) {
    return absl::DataLossError(absl::StrCat(
        path, ": file of ", file_size, " bytes is shorter than the ", sizeof(h),
        "-byte llama2.c header"));
  }
  std::memcpy(h, file->data(), sizeof(h));
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
  TensorWalker r(file, sizeof(h));
  auto assign = [](absl::StatusOr<Tensor> t, Tensor* dst) {
    if (!t.ok()) return t.status();
    *dst = *std::move(t);
    return absl::OkStatus();
  };
  if (auto s =
          assign(r.Matrix(c.vocab_size, D, weights_dtype, "token_embedding"),
                 &w.token_embedding);
      !s.ok())
    return s;
  w.layers.resize(L);
  // The file stores each tensor kind for all layers together.
  auto norms = [&](std::vector<float> LayerWeights::*field) {
    for (int64_t l = 0; l < L; ++l) w.layers[l].*field = r.Vector(D);
  };
  auto matrices = [&](int64_t rows, int64_t cols, const char* name,
                      Tensor LayerWeights::*field) {
    for (int64_t l = 0; l < L; ++l) {
      if (auto s = assign(r.Matrix(rows, cols, weights_dtype,
                                   absl::StrCat("layers.", l, ".", name)),
                          &(w.layers[l].*field));
          !s.ok())
        return s;
    }
    return absl::OkStatus();
  };
  norms(&LayerWeights::rms_att);
  struct Item {
    int64_t rows, cols;
    const char* name;
    Tensor LayerWeights::*field;
  };
  for (const Item& it : {Item{q, D, "wq", &LayerWeights::wq},
                         Item{kv, D, "wk", &LayerWeights::wk},
                         Item{kv, D, "wv", &LayerWeights::wv},
                         Item{D, q, "wo", &LayerWeights::wo}}) {
    if (auto s = matrices(it.rows, it.cols, it.name, it.field); !s.ok())
      return s;
  }
  norms(&LayerWeights::rms_ffn);
  for (const Item& it : {Item{F, D, "w1", &LayerWeights::w1},
                         Item{D, F, "w2", &LayerWeights::w2},
                         Item{F, D, "w3", &LayerWeights::w3}}) {
    if (auto s = matrices(it.rows, it.cols, it.name, it.field); !s.ok())
      return s;
  }
  w.rms_final = r.Vector(D);
  // Precomputed RoPE tables (freq_cis_real, freq_cis_imag): unused; the
  // runtime computes the rotation from rope_theta.
  r.Skip(int64_t{c.max_seq_len} * c.head_dim);
  if (!c.tied_embeddings) {
    if (auto s =
            assign(r.Matrix(c.vocab_size, D, weights_dtype, "wcls"), &w.wcls);
        !s.ok())
      return s;
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
  auto put_matrix = [&out](const Tensor& t) {  // fp32, row by row
    std::vector<float> row(t.cols());
    for (int64_t r = 0; r < t.rows(); ++r) {
      t.RowToFloat(r, row.data());
      out.write(reinterpret_cast<const char*>(row.data()),
                static_cast<std::streamsize>(row.size() * sizeof(float)));
    }
  };
  put_matrix(weights.token_embedding);
  for (const LayerWeights& lw : weights.layers) put(lw.rms_att);
  for (auto field : {&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv,
                     &LayerWeights::wo}) {
    for (const LayerWeights& lw : weights.layers) put_matrix(lw.*field);
  }
  for (const LayerWeights& lw : weights.layers) put(lw.rms_ffn);
  for (auto field : {&LayerWeights::w1, &LayerWeights::w2, &LayerWeights::w3}) {
    for (const LayerWeights& lw : weights.layers) put_matrix(lw.*field);
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
  if (!c.tied_embeddings) put_matrix(weights.wcls);
  out.close();
  if (!out) return absl::DataLossError("failed writing " + path);
  return absl::OkStatus();
}

}  // namespace headroom::runtime
