#include "runtime/weights/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/weights/mapped_file.h"

namespace headroom::runtime {
namespace {

// Owned storage: a vector of some element type behind a shared_ptr<const
// void>, so every tensor kind keeps its bytes alive the same way.
template <typename T>
std::shared_ptr<const void> Own(std::vector<T> values, const void** data) {
  auto owned = std::make_shared<const std::vector<T>>(std::move(values));
  *data = owned->data();
  return owned;
}

// QuantizeQ8_0 of a [rows, cols] matrix, rows split across threads for a
// large one (a 7B model's load is mostly this). Each block is quantized
// alone, so the result does not depend on the split. A part that fails is
// quantized again whole, on one thread, for the message to give the index
// in the tensor (errors are rare: NaN or infinity in the weights).
absl::StatusOr<std::vector<Q8_0Block>> QuantizeRowsQ8_0(
    absl::Span<const float> values, int64_t rows, int64_t cols,
    const std::string& name) {
  constexpr int64_t kParallelFrom = int64_t{1} << 22;  // values
  const int threads = static_cast<int>(
      std::clamp<int64_t>(std::thread::hardware_concurrency(), 1, 16));
  if (threads == 1 || rows < threads ||
      static_cast<int64_t>(values.size()) < kParallelFrom) {
    return QuantizeQ8_0(values, name);
  }
  const int64_t blocks_per_row = cols / kQ8_0BlockSize;
  std::vector<Q8_0Block> out(rows * blocks_per_row);
  std::vector<char> failed(threads, 0);
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back([&, i] {
      const int64_t begin = rows * i / threads, end = rows * (i + 1) / threads;
      auto part = QuantizeQ8_0(
          values.subspan(begin * cols, (end - begin) * cols), name);
      if (!part.ok()) {
        failed[i] = true;
        return;
      }
      std::copy(part->begin(), part->end(),
                out.begin() + begin * blocks_per_row);
    });
  }
  for (std::thread& w : workers) w.join();
  if (std::find(failed.begin(), failed.end(), 1) != failed.end()) {
    return QuantizeQ8_0(values, name);
  }
  return out;
}

}  // namespace

Tensor Tensor::FromF32(std::vector<float> values, int64_t rows, int64_t cols) {
  Tensor t;
  t.dtype_ = WeightDtype::kF32;
  t.rows_ = rows;
  t.cols_ = cols;
  t.row_bytes_ = cols * int64_t{sizeof(float)};
  t.value_count_ = static_cast<int64_t>(values.size());
  t.storage_ = Own(std::move(values), &t.data_);
  return t;
}

absl::StatusOr<Tensor> Tensor::FromFloat(absl::Span<const float> values,
                                         int64_t rows, int64_t cols,
                                         WeightDtype dtype,
                                         std::string_view name) {
  if (rows < 0 || cols < 0 || (cols > 0 && rows > INT64_MAX / cols) ||
      static_cast<int64_t>(values.size()) != rows * cols) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", std::string(name), ": ", values.size(),
                     " values for a [", rows, ", ", cols, "] matrix"));
  }
  auto row_bytes = WeightRowBytes(dtype, cols);
  if (!row_bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor ", std::string(name), " in ", WeightDtypeName(dtype), ": ",
        row_bytes.status().message()));
  }
  Tensor t;
  t.dtype_ = dtype;
  t.rows_ = rows;
  t.cols_ = cols;
  t.row_bytes_ = *row_bytes;
  t.value_count_ = rows * cols;
  switch (dtype) {
    case WeightDtype::kF32:
      t.storage_ =
          Own(std::vector<float>(values.begin(), values.end()), &t.data_);
      break;
    case WeightDtype::kF16:
    case WeightDtype::kBF16: {
      std::vector<uint16_t> bits(values.size());
      const bool half = dtype == WeightDtype::kF16;
      const uint16_t inf = half ? 0x7c00u : 0x7f80u;
      for (size_t i = 0; i < values.size(); ++i) {
        bits[i] = half ? FloatToHalf(values[i]) : FloatToBFloat16(values[i]);
        // A finite weight that rounds to infinity would silently break the
        // model (f16 tops out at 65504): refuse it.
        if ((bits[i] & 0x7fffu) == inf && std::isfinite(values[i])) {
          return absl::InvalidArgumentError(absl::StrCat(
              "tensor ", std::string(name), " has ", values[i], " at index ", i,
              ", which overflows ", WeightDtypeName(dtype)));
        }
      }
      t.storage_ = Own(std::move(bits), &t.data_);
      break;
    }
    case WeightDtype::kQ8_0: {
      auto blocks = QuantizeRowsQ8_0(
          values, rows, cols, absl::StrCat("tensor ", std::string(name)));
      if (!blocks.ok()) return blocks.status();
      t.storage_ = Own(*std::move(blocks), &t.data_);
      break;
    }
  }
  return t;
}

Tensor Tensor::View(WeightDtype dtype, int64_t rows, int64_t cols,
                    const void* data, std::shared_ptr<const void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.rows_ = rows;
  t.cols_ = cols;
  t.row_bytes_ = *WeightRowBytes(dtype, cols);
  t.value_count_ = rows * cols;
  t.data_ = data;
  t.is_view_ = true;
  t.storage_ = std::move(owner);
  return t;
}

float* Tensor::MutableF32() {
  if (dtype_ != WeightDtype::kF32) return nullptr;
  // Sole owner of storage this tensor made: write in place. Otherwise copy
  // first, so that other tensors sharing the bytes (or a read-only
  // mapping) never see the change.
  if (is_view_ || storage_.use_count() != 1) {
    const float* src = static_cast<const float*>(data_);
    *this = FromF32(std::vector<float>(src, src + value_count_), rows_, cols_);
  }
  return const_cast<float*>(static_cast<const float*>(data_));
}

void Tensor::RowToFloat(int64_t row, float* out) const {
  const auto* bytes =
      static_cast<const unsigned char*>(data_) + row * row_bytes_;
  switch (dtype_) {
    case WeightDtype::kF32:
      std::memcpy(out, bytes, cols_ * sizeof(float));
      return;
    case WeightDtype::kF16:
    case WeightDtype::kBF16: {
      const bool half = dtype_ == WeightDtype::kF16;
      for (int64_t i = 0; i < cols_; ++i) {
        uint16_t b;
        std::memcpy(&b, bytes + 2 * i, sizeof(b));  // views may be unaligned
        out[i] = half ? HalfToFloat(b) : BFloat16ToFloat(b);
      }
      return;
    }
    case WeightDtype::kQ8_0: {
      for (int64_t blk = 0; blk < cols_ / kQ8_0BlockSize; ++blk) {
        Q8_0Block b;
        std::memcpy(&b, bytes + blk * sizeof(Q8_0Block), sizeof(b));
        // Q8_0Weight's product, with the scale widened once per block.
        const float d = HalfToFloat(b.scale);
        for (int i = 0; i < kQ8_0BlockSize; ++i) {
          out[blk * kQ8_0BlockSize + i] = static_cast<float>(b.q[i]) * d;
        }
      }
      return;
    }
  }
}

std::vector<float> Tensor::ToFloat() const {
  if (dtype_ == WeightDtype::kF32) {
    const float* src = static_cast<const float*>(data_);
    return std::vector<float>(src, src + value_count_);
  }
  std::vector<float> out(numel());
  for (int64_t r = 0; r < rows_; ++r) RowToFloat(r, out.data() + r * cols_);
  return out;
}

Tensor Tensor::AsF32() const {
  if (dtype_ == WeightDtype::kF32) return *this;
  return FromF32(ToFloat(), rows_, cols_);
}

WeightDtype ServedDtype(std::optional<WeightDtype> wanted, WeightDtype stored,
                        int64_t cols) {
  const WeightDtype dtype = wanted.value_or(stored);
  if (dtype == WeightDtype::kQ8_0 && cols % kQ8_0BlockSize != 0) {
    return WeightDtype::kF16;
  }
  return dtype;
}

Tensor Tensor::MappedView(WeightDtype dtype, int64_t rows, int64_t cols,
                          const void* data,
                          std::shared_ptr<const MappedFile> file) {
  const MappedFile* mapping = file.get();
  Tensor t = View(dtype, rows, cols, data, std::move(file));
  t.file_ = mapping;
  return t;
}

void Tensor::DropMappedPages() const {
  if (file_ != nullptr) file_->DropPages(data_, static_cast<uint64_t>(bytes()));
}

absl::StatusOr<Tensor> TensorFromStored(WeightDtype stored, int64_t rows,
                                        int64_t cols, const void* bytes,
                                        std::shared_ptr<const MappedFile> file,
                                        std::optional<WeightDtype> wanted,
                                        std::string_view name) {
  Tensor view = Tensor::MappedView(stored, rows, cols, bytes, std::move(file));
  const WeightDtype served = ServedDtype(wanted, stored, cols);
  if (served == stored) return view;
  if (served == WeightDtype::kF32) return view.AsF32();
  const std::vector<float> values = view.ToFloat();
  return Tensor::FromFloat(values, rows, cols, served, name);
}

}  // namespace headroom::runtime
