// A tokenizer.json for chat tests (header-only, so the fuzzers can use it
// without the test support library): byte-level BPE without merges, so byte
// b is id b and the ids of plain text are its bytes, and the added special
// tokens <|im_start|> (256), <|im_end|> (257) and <|endoftext|> (258, the
// EOS) of ChatML-style templates.
#ifndef HEADROOM_TESTS_CHAT_TOKENIZER_JSON_H_
#define HEADROOM_TESTS_CHAT_TOKENIZER_JSON_H_

#include <string>

#include "nlohmann/json.hpp"
#include "runtime/tokenizers/byte_level.h"

namespace headroom::testing {

inline constexpr int kChatImStart = 256;
inline constexpr int kChatImEnd = 257;

inline std::string ChatTokenizerJson() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) {
    vocab[runtime::ByteLevelEncode(std::string(1, static_cast<char>(b)))] = b;
  }
  nlohmann::json added = nlohmann::json::array();
  int id = kChatImStart;
  for (const char* t : {"<|im_start|>", "<|im_end|>", "<|endoftext|>"}) {
    added.push_back({{"id", id++}, {"content", t}, {"special", true}});
  }
  return nlohmann::json{
      {"pre_tokenizer",
       {{"type", "ByteLevel"},
        {"add_prefix_space", false},
        {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {}}}},
      {"added_tokens", added},
      {"decoder", {{"type", "ByteLevel"}}}}
      .dump();
}

}  // namespace headroom::testing

#endif  // HEADROOM_TESTS_CHAT_TOKENIZER_JSON_H_
