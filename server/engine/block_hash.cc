#include "server/engine/block_hash.h"

#include "runtime/util/sha256.h"

namespace headroom::server {

BlockHash PrefixRoot(const std::vector<std::string>& extra_keys) {
  runtime::Sha256 h;
  constexpr char kTag[] = "headroom prefix cache v1";
  h.Update(kTag, sizeof(kTag));
  for (const std::string& key : extra_keys) {
    const uint64_t size = key.size();
    h.Update(&size, sizeof(size));
    h.Update(key.data(), key.size());
  }
  return h.Digest();
}

BlockHash HashBlock(const BlockHash& parent, const int* tokens, int count) {
  runtime::Sha256 h;
  h.Update(parent.data(), parent.size());
  for (int i = 0; i < count; ++i) {
    const uint32_t t = static_cast<uint32_t>(tokens[i]);
    const uint8_t le[4] = {
        static_cast<uint8_t>(t), static_cast<uint8_t>(t >> 8),
        static_cast<uint8_t>(t >> 16), static_cast<uint8_t>(t >> 24)};
    h.Update(le, sizeof(le));
  }
  return h.Digest();
}

void ExtendBlockHashes(const BlockHash& root, const std::vector<int>& tokens,
                       int block_size, std::vector<BlockHash>* hashes) {
  if (block_size <= 0) return;
  const size_t full = tokens.size() / static_cast<size_t>(block_size);
  while (hashes->size() < full) {
    const BlockHash& parent = hashes->empty() ? root : hashes->back();
    hashes->push_back(HashBlock(
        parent, tokens.data() + hashes->size() * block_size, block_size));
  }
}

int64_t ShareablePromptBlocks(int64_t prompt_len, int block_size) {
  if (prompt_len <= 1 || block_size <= 0) return 0;
  return (prompt_len - 1) / block_size;
}

std::vector<BlockHash> ShareablePromptHashes(const BlockHash& root,
                                             const std::vector<int>& prompt,
                                             int block_size) {
  std::vector<BlockHash> hashes;
  const int64_t n =
      ShareablePromptBlocks(static_cast<int64_t>(prompt.size()), block_size);
  if (n == 0) return hashes;
  std::vector<int> head(prompt.begin(), prompt.begin() + n * block_size);
  ExtendBlockHashes(root, head, block_size, &hashes);
  return hashes;
}

}  // namespace headroom::server
