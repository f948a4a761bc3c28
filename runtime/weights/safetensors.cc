#include "runtime/weights/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace headroom::runtime {
namespace {

// F32 tensors are read and written with memcpy, and the format is
// little-endian; every platform we target is too.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O assumes a little-endian host");

using Json = nlohmann::json;

// Refuse headers over this many bytes before allocating for them; the
// reference implementation uses the same limit (100 MB). A LLaMA-70B header
// is under 100 KB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Elements converted per chunk when reading or writing F16/BF16, so that the
// temporary buffer stays small (128 KiB) next to the tensor itself.
constexpr size_t kChunkElements = size_t{1} << 16;

struct DtypeEntry {
  SafetensorsDtype dtype;
  const char* name;
  int size;  // bytes per element
};

constexpr DtypeEntry kDtypes[] = {
    {SafetensorsDtype::kBool, "BOOL", 1},
    {SafetensorsDtype::kU8, "U8", 1},
    {SafetensorsDtype::kI8, "I8", 1},
    {SafetensorsDtype::kF8E5M2, "F8_E5M2", 1},
    {SafetensorsDtype::kF8E4M3, "F8_E4M3", 1},
    {SafetensorsDtype::kI16, "I16", 2},
    {SafetensorsDtype::kU16, "U16", 2},
    {SafetensorsDtype::kF16, "F16", 2},
    {SafetensorsDtype::kBF16, "BF16", 2},
    {SafetensorsDtype::kI32, "I32", 4},
    {SafetensorsDtype::kU32, "U32", 4},
    {SafetensorsDtype::kF32, "F32", 4},
    {SafetensorsDtype::kF64, "F64", 8},
    {SafetensorsDtype::kI64, "I64", 8},
    {SafetensorsDtype::kU64, "U64", 8},
};

const DtypeEntry& Entry(SafetensorsDtype dtype) {
  for (const DtypeEntry& e : kDtypes) {
    if (e.dtype == dtype) return e;
  }
  return kDtypes[0];  // unreachable: the table covers the enum
}

bool IsFloatReadable(SafetensorsDtype dtype) {
  return dtype == SafetensorsDtype::kF32 || dtype == SafetensorsDtype::kF16 ||
         dtype == SafetensorsDtype::kBF16;
}

// Reads a non-negative JSON integer into `out`. nlohmann stores non-negative
// literals as unsigned, negative ones as signed, and anything past u64 or
// with a fraction/exponent as a float.
bool GetU64(const Json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  return false;
}

// Debian's Abseil has its own string_view, which StrCat wants.
absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

// `j` as JSON text for an error message, cut to 80 characters so that a
// hostile file cannot make the message itself huge.
std::string Snippet(const Json& j) {
  std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// A tensor or metadata name for a message, quoted, and cut to 200
// characters for the same reason as Snippet.
// Product of `shape` (the writer checks it for overflow first).
int64_t ShapeNumel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t dim : shape) n *= dim;
  return n;
}

std::string Quote(std::string_view s) {
  if (s.size() > 200) return absl::StrCat("'", Sv(s.substr(0, 197)), "...'");
  return absl::StrCat("'", Sv(s), "'");
}

absl::Status Invalid(std::string_view file, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(Sv(file), ": ", what));
}

absl::StatusOr<SafetensorsTensorInfo> ParseTensorEntry(const std::string& name,
                                                       const Json& entry,
                                                       uint64_t data_size,
                                                       std::string_view file) {
  const std::string t = absl::StrCat("tensor ", Quote(name));
  if (!entry.is_object()) {
    return Invalid(file, absl::StrCat(t, ": entry is a JSON ",
                                      entry.type_name(), ", expected object"));
  }
  SafetensorsTensorInfo info;
  info.name = name;

  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end()) {
    return Invalid(file, absl::StrCat(t, ": missing field \"dtype\""));
  }
  if (!dtype_it->is_string()) {
    return Invalid(
        file, absl::StrCat(t, ": \"dtype\" is a JSON ", dtype_it->type_name(),
                           ", expected string"));
  }
  const std::string& dtype_name = dtype_it->get_ref<const std::string&>();
  absl::StatusOr<SafetensorsDtype> dtype = ParseSafetensorsDtype(dtype_name);
  if (!dtype.ok()) {
    return Invalid(file, absl::StrCat(t, ": ", dtype.status().message()));
  }
  info.dtype = *dtype;

  auto shape_it = entry.find("shape");
  if (shape_it == entry.end()) {
    return Invalid(file, absl::StrCat(t, ": missing field \"shape\""));
  }
  if (!shape_it->is_array()) {
    return Invalid(
        file, absl::StrCat(t, ": \"shape\" is a JSON ", shape_it->type_name(),
                           ", expected array"));
  }
  // numel in u64 with an overflow check against int64 (the in-memory size
  // type); a zero dimension makes it zero regardless of the others, but each
  // dimension must still fit in int64 on its own.
  constexpr uint64_t kMaxNumel =
      static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t numel = 1;
  bool overflow = false;
  for (const Json& dim_json : *shape_it) {
    uint64_t dim = 0;
    if (!GetU64(dim_json, &dim)) {
      return Invalid(file,
                     absl::StrCat(t, ": \"shape\" entry ", Snippet(dim_json),
                                  " is not a non-negative integer"));
    }
    if (dim > kMaxNumel) {
      return Invalid(
          file, absl::StrCat(t, ": shape dimension ", dim, " is too large"));
    }
    info.shape.push_back(static_cast<int64_t>(dim));
    if (dim == 0) {
      numel = 0;
    } else if (numel != 0 && numel > kMaxNumel / dim) {
      overflow = true;
    } else {
      numel *= dim;
    }
  }
  if (overflow && numel != 0) {
    return Invalid(file, absl::StrCat(t, ": shape ", ShapeToString(info.shape),
                                      " has more elements than fit in int64"));
  }
  info.numel = static_cast<int64_t>(numel);

  auto offsets_it = entry.find("data_offsets");
  if (offsets_it == entry.end()) {
    return Invalid(file, absl::StrCat(t, ": missing field \"data_offsets\""));
  }
  if (!offsets_it->is_array() || offsets_it->size() != 2 ||
      !GetU64((*offsets_it)[0], &info.begin) ||
      !GetU64((*offsets_it)[1], &info.end)) {
    return Invalid(
        file, absl::StrCat(t, ": \"data_offsets\" is ", Snippet(*offsets_it),
                           ", expected [begin, end] with "
                           "non-negative integers"));
  }
  if (info.end < info.begin) {
    return Invalid(file, absl::StrCat(t, ": data_offsets end ", info.end,
                                      " is before begin ", info.begin));
  }
  if (info.end > data_size) {
    return Invalid(
        file, absl::StrCat(t, ": data_offsets [", info.begin, ", ", info.end,
                           ") run past the end of the data "
                           "section (",
                           data_size, " bytes)"));
  }
  const uint64_t elem = static_cast<uint64_t>(Entry(info.dtype).size);
  const uint64_t length = info.end - info.begin;
  // numel * elem can overflow u64 (numel <= 2^63, elem <= 8); only compute
  // it when it cannot.
  if (numel > length / elem || numel * elem != length) {
    const std::string needed =
        numel > std::numeric_limits<uint64_t>::max() / elem
            ? std::string("more than 2^64")
            : absl::StrCat(numel * elem);
    return Invalid(
        file,
        absl::StrCat(t, ": data_offsets hold ", length, " bytes, but shape ",
                     ShapeToString(info.shape), " of ", Entry(info.dtype).name,
                     " needs ", needed, " bytes"));
  }
  return info;
}

}  // namespace

const char* SafetensorsDtypeName(SafetensorsDtype dtype) {
  return Entry(dtype).name;
}

int SafetensorsDtypeSize(SafetensorsDtype dtype) { return Entry(dtype).size; }

absl::StatusOr<SafetensorsDtype> ParseSafetensorsDtype(std::string_view name) {
  for (const DtypeEntry& e : kDtypes) {
    if (name == e.name) return e.dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported dtype ", Quote(name),
                   " (not a fixed-width safetensors dtype)"));
}

std::string ShapeToString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

const SafetensorsTensorInfo* SafetensorsHeader::Find(
    std::string_view name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(
    absl::Span<const uint8_t> file_prefix, uint64_t file_size,
    std::string_view file_name) {
  if (file_size < 8 || file_prefix.size() < 8) {
    return Invalid(file_name,
                   absl::StrCat("file is ", file_size,
                                " bytes, too short for the 8-byte header "
                                "length of a safetensors file"));
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file_prefix[i];
  if (n > file_size - 8) {
    return Invalid(file_name,
                   absl::StrCat("header length ", n,
                                " runs past the end of "
                                "the file (",
                                file_size,
                                " bytes): truncated or not a safetensors "
                                "file"));
  }
  if (n > kMaxHeaderBytes) {
    return Invalid(file_name,
                   absl::StrCat("header length ", n, " is over the limit of ",
                                kMaxHeaderBytes, " bytes"));
  }
  if (file_prefix.size() - 8 < n) {
    return Invalid(file_name,
                   absl::StrCat("only ", file_prefix.size(),
                                " bytes of the file were given to the header "
                                "parser, which needs ",
                                n + 8));
  }
  SafetensorsHeader header;
  header.header_size = n;
  header.data_start = 8 + n;
  header.data_size = file_size - header.data_start;

  const char* json_begin =
      reinterpret_cast<const char*>(file_prefix.data()) + 8;
  Json root;
  try {
    root = Json::parse(json_begin, json_begin + n);
  } catch (const Json::exception& e) {
    return Invalid(file_name,
                   absl::StrCat("header is not valid JSON: ", e.what()));
  }
  if (!root.is_object()) {
    return Invalid(file_name,
                   absl::StrCat("header is a JSON ", root.type_name(),
                                ", expected an object"));
  }

  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) {
        return Invalid(file_name,
                       absl::StrCat("\"__metadata__\" is a JSON ",
                                    value.type_name(), ", expected object"));
      }
      for (const auto& [mkey, mvalue] : value.items()) {
        if (!mvalue.is_string()) {
          return Invalid(file_name,
                         absl::StrCat("\"__metadata__\" value for ",
                                      Quote(mkey), " is a JSON ",
                                      mvalue.type_name(), ", expected string"));
        }
        header.metadata.emplace(mkey, mvalue.get<std::string>());
      }
      continue;
    }
    absl::StatusOr<SafetensorsTensorInfo> info =
        ParseTensorEntry(key, value, header.data_size, file_name);
    if (!info.ok()) return info.status();
    header.tensors.emplace(key, *std::move(info));
  }

  // Overlaps: sort the non-empty ranges by start; each must begin at or
  // after the end of the one before.
  std::vector<const SafetensorsTensorInfo*> ranges;
  ranges.reserve(header.tensors.size());
  for (const auto& [name, info] : header.tensors) {
    if (info.end > info.begin) ranges.push_back(&info);
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const SafetensorsTensorInfo* a, const SafetensorsTensorInfo* b) {
              return a->begin < b->begin;
            });
  for (size_t i = 1; i < ranges.size(); ++i) {
    const SafetensorsTensorInfo& prev = *ranges[i - 1];
    const SafetensorsTensorInfo& cur = *ranges[i];
    if (cur.begin < prev.end) {
      return Invalid(
          file_name,
          absl::StrCat("tensors ", Quote(prev.name), " [", prev.begin, ", ",
                       prev.end, ") and ", Quote(cur.name), " [", cur.begin,
                       ", ", cur.end, ") have overlapping data_offsets"));
    }
  }
  return header;
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  auto file = MappedFile::Open(path);
  if (!file.ok()) {
    return absl::NotFoundError(absl::StrCat(
        "cannot open safetensors file ", path, ": ", file.status().message()));
  }
  const uint64_t file_size = (*file)->size();
  // The parser bounds N by the file and kMaxHeaderBytes before it reads
  // the JSON, so the prefix may be the whole mapping.
  absl::StatusOr<SafetensorsHeader> header = ParseSafetensorsHeader(
      absl::MakeConstSpan((*file)->data(), file_size), file_size, path);
  if (!header.ok()) return header.status();
  return SafetensorsFile(path, *std::move(header), *std::move(file));
}

absl::StatusOr<const SafetensorsTensorInfo*> SafetensorsFile::FindReadable(
    std::string_view name, absl::Span<const int64_t> expected_shape) const {
  const SafetensorsTensorInfo* info = Find(name);
  if (info == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("tensor ", Quote(name), " not found in ", path_));
  }
  if (!expected_shape.empty() &&
      !std::equal(info->shape.begin(), info->shape.end(),
                  expected_shape.begin(), expected_shape.end())) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": tensor ", Quote(name), " has shape ",
                     ShapeToString(info->shape), ", expected ",
                     ShapeToString(expected_shape)));
  }
  if (!IsFloatReadable(info->dtype)) {
    return absl::UnimplementedError(
        absl::StrCat(path_, ": tensor ", Quote(name), " has dtype ",
                     SafetensorsDtypeName(info->dtype),
                     "; only F32, F16 and BF16 can be read as floats"));
  }
  return info;
}

namespace {

WeightDtype ToWeightDtype(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::kF16:
      return WeightDtype::kF16;
    case SafetensorsDtype::kBF16:
      return WeightDtype::kBF16;
    default:
      return WeightDtype::kF32;
  }
}

}  // namespace

absl::StatusOr<std::vector<float>> SafetensorsFile::ReadFloat(
    std::string_view name) const {
  auto info = FindReadable(name, {});
  if (!info.ok()) return info.status();
  const int64_t numel = (*info)->numel;
  const Tensor view =
      Tensor::View(ToWeightDtype((*info)->dtype), 1, numel,
                   file_->data() + header_.data_start + (*info)->begin, file_);
  return view.ToFloat();
}

absl::StatusOr<std::vector<float>> SafetensorsFile::ReadFloat(
    std::string_view name, absl::Span<const int64_t> expected_shape) const {
  auto info = FindReadable(name, expected_shape);
  if (!info.ok()) return info.status();
  return ReadFloat(name);
}

absl::StatusOr<Tensor> SafetensorsFile::ReadTensor(
    std::string_view name, int64_t rows, int64_t cols,
    std::optional<WeightDtype> wanted) const {
  const int64_t shape[] = {rows, cols};
  auto info = FindReadable(name, shape);
  if (!info.ok()) return info.status();
  const uint8_t* bytes = file_->data() + header_.data_start + (*info)->begin;
  auto tensor =
      TensorFromStored(ToWeightDtype((*info)->dtype), rows, cols, bytes, file_,
                       wanted, absl::StrCat(path_, ": ", std::string(name)));
  // A converted tensor no longer needs its source pages resident.
  if (tensor.ok() && !tensor->is_view()) {
    file_->DropPages(bytes, (*info)->end - (*info)->begin);
  }
  return tensor;
}

absl::Status WriteSafetensors(
    const std::string& path, absl::Span<const SafetensorsTensorToWrite> tensors,
    SafetensorsDtype dtype,
    const std::map<std::string, std::string>& metadata) {
  if (!IsFloatReadable(dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat("safetensors writer: dtype ", SafetensorsDtypeName(dtype),
                     " is not supported; use F32, F16 or BF16"));
  }
  const uint64_t elem = static_cast<uint64_t>(SafetensorsDtypeSize(dtype));

  // Validate, then order by name (the data follows the same order).
  std::vector<const SafetensorsTensorToWrite*> order;
  order.reserve(tensors.size());
  for (const SafetensorsTensorToWrite& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__") {
      return absl::InvalidArgumentError(absl::StrCat(
          "safetensors writer: invalid tensor name ", Quote(t.name)));
    }
    int64_t numel = 1;
    for (int64_t dim : t.shape) {
      if (dim < 0 ||
          (dim != 0 && numel > std::numeric_limits<int64_t>::max() / dim)) {
        return absl::InvalidArgumentError(
            absl::StrCat("safetensors writer: tensor ", Quote(t.name),
                         " has invalid shape ", ShapeToString(t.shape)));
      }
      numel *= dim;
    }
    if (t.rows && numel > 0 && t.shape.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors writer: tensor ", Quote(t.name),
                       " has a row source but no shape"));
    }
    if (!t.rows && static_cast<uint64_t>(numel) != t.values.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors writer: tensor ", Quote(t.name), " has ",
                       t.values.size(), " values, but shape ",
                       ShapeToString(t.shape), " needs ", numel));
    }
    order.push_back(&t);
  }
  std::sort(
      order.begin(), order.end(),
      [](const SafetensorsTensorToWrite* a, const SafetensorsTensorToWrite* b) {
        return a->name < b->name;
      });
  for (size_t i = 1; i < order.size(); ++i) {
    if (order[i]->name == order[i - 1]->name) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors writer: tensor ", Quote(order[i]->name),
                       " is given twice"));
    }
  }

  Json root = Json::object();
  uint64_t offset = 0;
  for (const SafetensorsTensorToWrite* t : order) {
    const uint64_t bytes = static_cast<uint64_t>(ShapeNumel(t->shape)) * elem;
    root[t->name] = {{"dtype", SafetensorsDtypeName(dtype)},
                     {"shape", t->shape},
                     {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata.empty()) root["__metadata__"] = metadata;
  std::string json_text;
  try {
    json_text = root.dump();
  } catch (const Json::exception& e) {
    // dump() throws on names or metadata that are not valid UTF-8.
    return absl::InvalidArgumentError(
        absl::StrCat("safetensors writer: cannot encode the header for ", path,
                     ": ", e.what()));
  }
  // Pad with spaces so that 8 + N, the data start, is a multiple of 8 and
  // F32 data stays aligned for readers that map the file.
  json_text.append((8 - json_text.size() % 8) % 8, ' ');

  const std::string tmp_path = path + ".partial";
  {
    std::ofstream out(tmp_path, std::ios::binary | std::ios::trunc);
    if (!out) {
      return absl::InternalError(
          absl::StrCat("cannot create ", tmp_path, ": ", std::strerror(errno)));
    }
    uint8_t len_bytes[8];
    uint64_t n = json_text.size();
    for (int i = 0; i < 8; ++i)
      len_bytes[i] = static_cast<uint8_t>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len_bytes), 8);
    out.write(json_text.data(), static_cast<std::streamsize>(json_text.size()));
    std::vector<uint16_t> chunk;
    std::vector<float> row;
    for (const SafetensorsTensorToWrite* t : order) {
      // The values in pieces: chunks of `values`, or one row at a time from
      // the row source.
      const int64_t numel = ShapeNumel(t->shape);
      const int64_t row_len = t->shape.empty() ? 1 : t->shape.back();
      auto piece = [&](int64_t done) -> absl::Span<const float> {
        if (!t->rows) {
          return t->values.subspan(
              done, std::min<int64_t>(kChunkElements, numel - done));
        }
        row.resize(row_len);
        t->rows(done / row_len, row.data());
        return row;
      };
      if (dtype == SafetensorsDtype::kF32) {
        for (int64_t done = 0; done < numel && row_len > 0;) {
          const absl::Span<const float> p = piece(done);
          out.write(reinterpret_cast<const char*>(p.data()),
                    static_cast<std::streamsize>(p.size() * sizeof(float)));
          done += static_cast<int64_t>(p.size());
        }
        continue;
      }
      uint16_t (*convert)(float) =
          dtype == SafetensorsDtype::kF16 ? &FloatToHalf : &FloatToBFloat16;
      for (int64_t done = 0; done < numel && row_len > 0;) {
        const absl::Span<const float> p = piece(done);
        const size_t count = p.size();
        chunk.resize(count);
        for (size_t i = 0; i < count; ++i) {
          const float v = p[i];
          chunk[i] = convert(v);
          // A finite value that becomes inf would silently break the model
          // (F16 tops out at 65504), so refuse rather than write it.
          if ((chunk[i] & 0x7fffu) ==
                  (dtype == SafetensorsDtype::kF16 ? 0x7c00u : 0x7f80u) &&
              std::isfinite(v)) {
            out.close();
            std::error_code ec;
            std::filesystem::remove(tmp_path, ec);
            return absl::InvalidArgumentError(absl::StrCat(
                "safetensors writer: tensor ", Quote(t->name), " value ", v,
                " at index ", done + i, " overflows ",
                SafetensorsDtypeName(dtype), "; write F32 or BF16 instead"));
          }
        }
        out.write(reinterpret_cast<const char*>(chunk.data()),
                  static_cast<std::streamsize>(count * sizeof(uint16_t)));
        done += count;
      }
    }
    out.close();
    if (!out) {
      const std::string reason = std::strerror(errno);
      std::error_code ec;
      std::filesystem::remove(tmp_path, ec);
      return absl::InternalError(
          absl::StrCat("failed writing ", tmp_path, ": ", reason));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp_path, path, ec);
  if (ec) {
    std::filesystem::remove(tmp_path, ec);
    return absl::InternalError(absl::StrCat("cannot rename ", tmp_path, " to ",
                                            path, ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace headroom::runtime
