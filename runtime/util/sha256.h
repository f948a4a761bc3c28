// SHA-256 (FIPS 180-4), as lowercase hex: content digests of models and
// calibration text, and API-key digests.
#ifndef HEADROOM_RUNTIME_UTIL_SHA256_H_
#define HEADROOM_RUNTIME_UTIL_SHA256_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace headroom::runtime {

// Streaming hasher: Update any number of times, then HexDigest once.
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  std::string HexDigest();

 private:
  void Compress(const unsigned char* block);
  uint32_t state_[8];
  unsigned char block_[64];
  size_t block_used_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string Sha256Hex(std::string_view bytes);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_UTIL_SHA256_H_
