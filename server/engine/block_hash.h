// Block hashes of the prefix cache: a full KV page's identity is a hash
// chain, H(parent, the page's token ids), so equal hashes mean equal token
// prefixes. The chain starts at a root that hashes the extra keys (the
// tenant's cache salt and the served layout), so two tenants, or two
// layouts, never produce the same hash for the same tokens. SHA-256: a
// collision would hand one request another's K/V, so the hash must be
// collision-resistant, not just fast.
//
//   BlockHash root = PrefixRoot({salt, layout});
//   std::vector<BlockHash> hashes;
//   ExtendBlockHashes(root, tokens, block_size, &hashes);
#ifndef HEADROOM_SERVER_ENGINE_BLOCK_HASH_H_
#define HEADROOM_SERVER_ENGINE_BLOCK_HASH_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace headroom::server {

using BlockHash = std::array<uint8_t, 32>;

// For unordered containers: the digest's first 8 bytes are uniform already.
struct BlockHashHasher {
  size_t operator()(const BlockHash& h) const {
    uint64_t x;
    std::memcpy(&x, h.data(), sizeof(x));
    return static_cast<size_t>(x);
  }
};

// The chain's root: SHA-256 over a version tag and each key, length-prefixed
// (so that {"ab", "c"} and {"a", "bc"} differ).
BlockHash PrefixRoot(const std::vector<std::string>& extra_keys);

// H(parent || the tokens as little-endian int32).
BlockHash HashBlock(const BlockHash& parent, const int* tokens, int count);

// Appends to `hashes` the hashes of the full pages of `tokens` it does not
// have yet (hashes->size() pages are taken as hashed already).
void ExtendBlockHashes(const BlockHash& root, const std::vector<int>& tokens,
                       int block_size, std::vector<BlockHash>* hashes);

// The pages of a prompt that a later request can share: its full pages but
// not the one holding the last prompt token, which every request computes
// (its logits give the first output token), i.e. floor((len - 1) / size).
int64_t ShareablePromptBlocks(int64_t prompt_len, int block_size);

// The hashes of those pages (admission's tenant accounting).
std::vector<BlockHash> ShareablePromptHashes(const BlockHash& root,
                                             const std::vector<int>& prompt,
                                             int block_size);

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_ENGINE_BLOCK_HASH_H_
