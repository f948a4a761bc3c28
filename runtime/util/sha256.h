// SHA-256 (FIPS 180-4), as lowercase hex: content digests of models and
// calibration text, and API-key digests. Computed by OpenSSL's libcrypto,
// which uses the CPU's SHA extensions where it has them (about 1.7 GB/s on
// this project's machine against 0.2 GB/s for portable C++): a 7B model's
// digest is hashed at load.
#ifndef HEADROOM_RUNTIME_UTIL_SHA256_H_
#define HEADROOM_RUNTIME_UTIL_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace headroom::runtime {

// Streaming hasher: Update any number of times, then HexDigest once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t size);
  // The 32 digest bytes; call one of these once.
  std::array<uint8_t, 32> Digest();
  std::string HexDigest();

 private:
  struct Context;  // OpenSSL's EVP_MD_CTX
  std::unique_ptr<Context> context_;
};

std::string Sha256Hex(std::string_view bytes);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_UTIL_SHA256_H_
