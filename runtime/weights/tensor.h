// Tensor: a row-major matrix of weights in one WeightDtype, either owning its
// bytes or viewing bytes that someone else owns (an mmap'd checkpoint).
//
//   auto t = Tensor::FromFloat(values, rows, cols, WeightDtype::kBF16, "wq");
//   Tensor v = Tensor::View(WeightDtype::kBF16, rows, cols, ptr, mapping);
//   std::vector<float> row(t->cols());
//   t->RowToFloat(3, row.data());
//
// Ownership: the bytes live in a shared, immutable storage object (a vector
// the tensor made, or the mapping passed to View). Copies of a Tensor share
// it, so copying a model's weights is cheap and a mapping outlives every view
// of it. The one mutation, MutableF32(), copies first when the storage is
// shared or not owned (copy on write), so no other tensor sees the change.
#ifndef HEADROOM_RUNTIME_WEIGHTS_TENSOR_H_
#define HEADROOM_RUNTIME_WEIGHTS_TENSOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/weights/weight_dtype.h"

namespace headroom::runtime {

class MappedFile;

class Tensor {
 public:
  Tensor() = default;  // empty: 0 x 0, f32

  // fp32 values [rows, cols], owned without a copy. values.size() should be
  // rows * cols; ModelWeights::Validate reports a tensor whose numel() and
  // value count differ (value_count()), naming it.
  static Tensor FromF32(std::vector<float> values, int64_t rows, int64_t cols);
  // fp32 values [rows, cols] stored in `dtype` (rounded to nearest even for
  // f16 and bf16; GGUF's Q8_0 for q8_0). InvalidArgument naming `name` when
  // values.size() != rows * cols, when q8_0 gets cols not a multiple of 32,
  // or q8_0 meets a NaN or an infinity.
  static absl::StatusOr<Tensor> FromFloat(absl::Span<const float> values,
                                          int64_t rows, int64_t cols,
                                          WeightDtype dtype,
                                          std::string_view name);
  // Bytes [rows * WeightRowBytes(dtype, cols)] at `data`, kept alive by
  // `owner`. The caller has checked that the range lies inside what `owner`
  // holds.
  static Tensor View(WeightDtype dtype, int64_t rows, int64_t cols,
                     const void* data, std::shared_ptr<const void> owner);
  // A View of bytes inside `file`, whose pages DropMappedPages can drop.
  static Tensor MappedView(WeightDtype dtype, int64_t rows, int64_t cols,
                           const void* data,
                           std::shared_ptr<const MappedFile> file);

  WeightDtype dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t numel() const { return rows_ * cols_; }
  // Values the storage holds: numel(), except for an FromF32 tensor given
  // a vector of another length.
  int64_t value_count() const { return value_count_; }
  bool empty() const { return numel() == 0; }
  int64_t row_bytes() const { return row_bytes_; }
  int64_t bytes() const { return rows_ * row_bytes_; }
  const void* data() const { return data_; }
  // Whether the bytes are a view of storage the tensor did not make.
  bool is_view() const { return is_view_; }
  // Drops the bytes from this process's resident set when they are pages of
  // a mapped checkpoint (a MappedView; MappedFile::DropPages:
  // read back from the page cache if touched again); nothing otherwise. For
  // whoever replaces such a tensor, so its pages do not stay resident beside
  // the replacement's.
  void DropMappedPages() const;

  // The values as fp32 when dtype() is f32, else nullptr.
  const float* f32() const {
    return dtype_ == WeightDtype::kF32 ? static_cast<const float*>(data_)
                                       : nullptr;
  }
  // Writable fp32 values (copy on write); nullptr unless dtype() is f32.
  float* MutableF32();

  // Row `row` widened to fp32 into out[0, cols): exact for f16 and bf16,
  // q * scale for q8_0 (Q8_0Weight, as the kernels compute it).
  void RowToFloat(int64_t row, float* out) const;
  // All values widened to fp32, row-major.
  std::vector<float> ToFloat() const;
  // This tensor in f32: itself (shared, no copy) when it already is.
  Tensor AsF32() const;

 private:
  WeightDtype dtype_ = WeightDtype::kF32;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  int64_t row_bytes_ = 0;
  int64_t value_count_ = 0;
  const void* data_ = nullptr;
  bool is_view_ = false;
  const MappedFile* file_ = nullptr;  // kept alive by storage_
  std::shared_ptr<const void> storage_;
};

// The dtype a loader stores a matrix of `cols`-weight rows in, kept as
// `stored` in the checkpoint, when `wanted` is asked (nullopt: "auto", the
// checkpoint's own). q8_0 needs rows of a multiple of 32 weights; other
// matrices fall back to f16, as GGUF's quantizers do, and the model's
// DtypeSummary() counts them.
WeightDtype ServedDtype(std::optional<WeightDtype> wanted, WeightDtype stored,
                        int64_t cols);

// A matrix [rows, cols] whose `stored` bytes are at `bytes` (inside
// `file`), as the loaders serve it: a view of those bytes when
// ServedDtype() is `stored` (no copy, no widening), else converted on its
// own (widened to fp32, then narrowed or quantized), one tensor at a time.
// InvalidArgument naming `name` for NaN or infinity in q8_0.
absl::StatusOr<Tensor> TensorFromStored(WeightDtype stored, int64_t rows,
                                        int64_t cols, const void* bytes,
                                        std::shared_ptr<const MappedFile> file,
                                        std::optional<WeightDtype> wanted,
                                        std::string_view name);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_WEIGHTS_TENSOR_H_
