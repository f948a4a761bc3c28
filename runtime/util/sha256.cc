#include "runtime/util/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "absl/strings/str_format.h"

namespace headroom::runtime {

// OpenSSL's SHA-256 cannot fail for in-memory data once initialised; a
// failure to allocate or initialise the context is out of memory, which
// the rest of the process treats as fatal too.
struct Sha256::Context {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  if (context_->ctx == nullptr ||
      EVP_DigestInit_ex(context_->ctx, EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
}

Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t size) {
  if (size > 0) EVP_DigestUpdate(context_->ctx, data, size);
}

std::array<uint8_t, 32> Sha256::Digest() {
  std::array<uint8_t, 32> digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(context_->ctx, digest.data(), &length);
  return digest;
}

std::string Sha256::HexDigest() {
  std::string out;
  for (uint8_t b : Digest()) out += absl::StrFormat("%02x", b);
  return out;
}

std::string Sha256Hex(std::string_view bytes) {
  Sha256 h;
  h.Update(bytes.data(), bytes.size());
  return h.HexDigest();
}

}  // namespace headroom::runtime
