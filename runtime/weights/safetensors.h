// safetensors files (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian u64 N, N bytes of JSON describing the tensors, then the data
// section. The JSON maps each tensor name to
//   {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}
// with byte offsets relative to the start of the data section, plus an
// optional "__metadata__" object of string -> string.
//
// Parsing accepts every fixed-width dtype of the format (so that a checkpoint
// carrying, say, an I64 buffer still opens); reading values supports only F32,
// F16 and BF16 and rejects the others, naming the tensor and its dtype. A
// dtype string the format does not define is rejected at parse time, because
// its element size, and so the byte-length check, is unknown.
//
// The reader is strict about anything that could make it read out of bounds
// or misinterpret bytes (sizes, offsets, overlaps, shape/length agreement) and
// lenient about harmless layout: unused bytes between or after tensors are
// allowed, though the writer never produces them.
//
// Usage:
//   absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
//   absl::StatusOr<std::vector<float>> w = f->ReadFloat("w", {rows, cols});
#ifndef HEADROOM_RUNTIME_WEIGHTS_SAFETENSORS_H_
#define HEADROOM_RUNTIME_WEIGHTS_SAFETENSORS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/weights/mapped_file.h"
#include "runtime/weights/tensor.h"
#include "runtime/weights/weight_dtype.h"

namespace headroom::runtime {

// The element types of the safetensors format that have a whole number of
// bytes per element.
enum class SafetensorsDtype {
  kBool,
  kU8,
  kI8,
  kF8E5M2,
  kF8E4M3,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kF64,
  kI64,
  kU64,
};

// The format's spelling: "F32", "BF16", "F8_E4M3", ...
const char* SafetensorsDtypeName(SafetensorsDtype dtype);
// Bytes per element.
int SafetensorsDtypeSize(SafetensorsDtype dtype);
// Parses the format's spelling; InvalidArgument names `name` when unknown.
absl::StatusOr<SafetensorsDtype> ParseSafetensorsDtype(std::string_view name);

// (fp16 and bf16 conversions: runtime/weights/weight_dtype.h.)

struct SafetensorsTensorInfo {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;  // [] is a scalar (one element)
  // Byte range [begin, end) relative to the start of the data section.
  uint64_t begin = 0;
  uint64_t end = 0;
  int64_t numel = 0;  // product of shape, checked for overflow
};

struct SafetensorsHeader {
  uint64_t header_size = 0;  // N, the JSON's length in bytes
  uint64_t data_start = 0;   // 8 + N: absolute file offset of the data section
  uint64_t data_size = 0;    // file size - data_start
  // By name; std::less<> allows lookup by string_view.
  std::map<std::string, SafetensorsTensorInfo, std::less<>> tensors;
  std::map<std::string, std::string, std::less<>> metadata;

  // nullptr when absent.
  const SafetensorsTensorInfo* Find(std::string_view name) const;
};

// Parses and validates the header of a safetensors file of `file_size` bytes
// whose first bytes are `file_prefix` (at least 8 + N of them, or the whole
// file when shorter). Errors are InvalidArgument and name `file_name` and,
// where one is at fault, the tensor.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(
    absl::Span<const uint8_t> file_prefix, uint64_t file_size,
    std::string_view file_name);

// A safetensors file on disk, mapped read-only at Open (runtime/weights/
// mapped_file.h); the header is parsed once. Copies share the mapping, and
// tensors viewed out of it keep it alive.
class SafetensorsFile {
 public:
  // Reads and validates the header. NotFound when `path` cannot be opened.
  static absl::StatusOr<SafetensorsFile> Open(const std::string& path);

  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  // nullptr when absent.
  const SafetensorsTensorInfo* Find(std::string_view name) const {
    return header_.Find(name);
  }

  // The values of tensor `name` converted to fp32, row-major in its shape.
  // NotFound when absent; Unimplemented for dtypes other than F32/F16/BF16;
  // DataLoss when the file is shorter than its header said.
  absl::StatusOr<std::vector<float>> ReadFloat(std::string_view name) const;
  // Same, and InvalidArgument naming the tensor and both shapes when its
  // shape is not `expected_shape`.
  absl::StatusOr<std::vector<float>> ReadFloat(
      std::string_view name, absl::Span<const int64_t> expected_shape) const;
  // Matrix `name` of shape [rows, cols] as TensorFromStored serves it:
  // viewed in place when `wanted` is its own dtype (or nullopt), else
  // converted. Errors as ReadFloat's.
  absl::StatusOr<Tensor> ReadTensor(std::string_view name, int64_t rows,
                                    int64_t cols,
                                    std::optional<WeightDtype> wanted) const;

 private:
  SafetensorsFile(std::string path, SafetensorsHeader header,
                  std::shared_ptr<const MappedFile> file)
      : path_(std::move(path)),
        header_(std::move(header)),
        file_(std::move(file)) {}

  // The tensor's info after the dtype and shape checks of ReadFloat.
  absl::StatusOr<const SafetensorsTensorInfo*> FindReadable(
      std::string_view name, absl::Span<const int64_t> expected_shape) const;

  std::string path_;
  SafetensorsHeader header_;
  std::shared_ptr<const MappedFile> file_;
};

// One fp32 tensor for WriteSafetensors: either `values` (row-major), which
// must outlive the call and hold exactly product(shape) values, or, when
// `rows` is set, a source the writer asks for each row in order (the last
// dimension's worth of values, written to `out`), so a tensor need never be
// held in memory whole.
struct SafetensorsTensorToWrite {
  std::string name;
  std::vector<int64_t> shape;
  absl::Span<const float> values;
  std::function<void(int64_t row, float* out)> rows = nullptr;
};

// Writes `tensors` converted to `dtype` (F32, F16 or BF16) with `metadata`
// as "__metadata__" (omitted when empty). Tensors are stored sorted by name,
// back to back; the JSON is padded with spaces so that the data section
// starts at a multiple of 8 bytes. The file is written beside `path` and
// renamed into place, so a failed write leaves no partial file at `path`.
absl::Status WriteSafetensors(
    const std::string& path, absl::Span<const SafetensorsTensorToWrite> tensors,
    SafetensorsDtype dtype,
    const std::map<std::string, std::string>& metadata = {});

// Shape as "[a, b]" for error messages.
std::string ShapeToString(absl::Span<const int64_t> shape);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_WEIGHTS_SAFETENSORS_H_
