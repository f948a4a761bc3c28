// A content digest of a model: SHA-256 over its shape and every tensor, so a
// projections file can be checked against the model it is applied to.
#ifndef HEADROOM_RUNTIME_MODEL_MODEL_DIGEST_H_
#define HEADROOM_RUNTIME_MODEL_MODEL_DIGEST_H_

#include <string>

#include "runtime/model/model_weights.h"

namespace headroom::runtime {

// Hex SHA-256 of the config's shape fields (dims, heads, vocab, RoPE style
// and theta) and the fp32 bytes of every tensor in a fixed order. The same
// weights loaded from llama2.c or Hugging Face files differ (the RoPE
// pairing permutes W_Q and W_K rows), as projections for them must.
std::string ModelDigest(const ModelWeights& weights);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_MODEL_MODEL_DIGEST_H_
