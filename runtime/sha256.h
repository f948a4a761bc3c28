// SHA-256 (FIPS 180-4) of a byte string, as lowercase hex: content digests of
// models and calibration text, and API-key digests.
#ifndef HEADROOM_RUNTIME_SHA256_H_
#define HEADROOM_RUNTIME_SHA256_H_

#include <string>
#include <string_view>

namespace headroom::runtime {

std::string Sha256Hex(std::string_view bytes);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_SHA256_H_
