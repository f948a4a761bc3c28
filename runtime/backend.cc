#include "runtime/backend.h"

namespace headroom::runtime {

int BlocksForContext(const ModelConfig& config, int block_size) {
  return (config.max_seq_len + block_size - 1) / block_size;
}

}  // namespace headroom::runtime
