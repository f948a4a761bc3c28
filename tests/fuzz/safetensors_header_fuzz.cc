// Feeds arbitrary bytes to ParseSafetensorsHeader as a whole file. It must
// return a status for every input: no crash, leak, hang or undefined
// behaviour (the fuzz build runs with ASan and UBSan).
//
// A useful seed: any small model.safetensors, e.g. one written by
// runtime_safetensors_test.
#include <cstddef>
#include <cstdint>

#include "runtime/weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using headroom::runtime::ParseSafetensorsHeader;
  using headroom::runtime::SafetensorsHeader;
  const absl::Span<const uint8_t> bytes(data, size);
  absl::StatusOr<SafetensorsHeader> header =
      ParseSafetensorsHeader(bytes, size, "fuzz.safetensors");
  if (header.ok()) {
    // Whatever parses must describe ranges inside the data section, with
    // byte lengths that match the shapes: the reader relies on it.
    for (const auto& [name, info] : header->tensors) {
      if (info.begin > info.end || info.end > header->data_size ||
          info.numel < 0 ||
          static_cast<uint64_t>(info.numel) *
                  headroom::runtime::SafetensorsDtypeSize(info.dtype) !=
              info.end - info.begin) {
        __builtin_trap();
      }
    }
    if (header->data_start + header->data_size != size) __builtin_trap();
  }
  // The same bytes as a prefix of a larger file: offsets may then reach
  // beyond the given bytes, which is fine, but parsing must stay in bounds.
  (void)ParseSafetensorsHeader(bytes, uint64_t{size} + 4096,
                               "fuzz.safetensors");
  return 0;
}
