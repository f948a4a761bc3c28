// Reads a SentencePiece tokenizer.model without libsentencepiece, for BPE
// models with byte fallback (LLaMA's and ours). Such a model encodes exactly
// as llama2.c's algorithm over the same pieces and scores (tested against
// libsentencepiece), so it becomes a Llama2cTokenizer.
//
// Why: Debian's libsentencepiece runs protobuf 3.14 generated code, and a
// process that also links libprotobuf 3.21 (headroom-server, for gRPC)
// aborts when libsentencepiece parses a model. This reader decodes the few
// protobuf fields it needs by hand (wire format: varint keys, length-
// delimited submessages).
#ifndef HEADROOM_RUNTIME_TOKENIZERS_SENTENCEPIECE_BPE_READER_H_
#define HEADROOM_RUNTIME_TOKENIZERS_SENTENCEPIECE_BPE_READER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/tokenizers/llama2c_tokenizer.h"

namespace headroom::runtime {

// The tokenizer in `bytes` (a serialized sentencepiece.ModelProto) as a
// Llama2cTokenizer. Unimplemented, naming `name` and the model type, for
// models this reader cannot reproduce exactly (not BPE, no byte fallback, no
// dummy prefix, whitespace normalisation on); DataLoss naming `name` for
// malformed bytes.
absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> ReadSentencePieceBpeModel(
    std::string_view bytes, int vocab_size, std::string_view name);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_TOKENIZERS_SENTENCEPIECE_BPE_READER_H_
