// llama2.c's encode() restated as directly as possible (rescan every pair
// after each merge, quadratic), to check the priority-queue implementation
// in runtime/tokenizers/llama2c_tokenizer.cc. Shared by the tokenizer test and
// fuzzer.
#ifndef HEADROOM_TESTS_REFERENCE_ENCODER_H_
#define HEADROOM_TESTS_REFERENCE_ENCODER_H_

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/tokenizers/llama2c_tokenizer.h"

namespace headroom::testing {

class ReferenceEncoder {
 public:
  explicit ReferenceEncoder(const runtime::Llama2cTokenizer& tok) : tok_(tok) {
    for (int id = tok.vocab_size() - 1; id >= 0; --id) ids_[tok.piece(id)] = id;
  }

  std::vector<int> Encode(std::string_view text, bool bos) const {
    std::vector<int> t;
    if (bos) t.push_back(1);
    if (!text.empty()) t.push_back(ids_.at(" "));
    std::string buf;
    for (size_t i = 0; i < text.size(); ++i) {
      buf += text[i];
      const bool next_is_continuation =
          i + 1 < text.size() &&
          (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80;
      if (next_is_continuation && buf.size() < 4) continue;
      auto it = ids_.find(buf);
      if (it != ids_.end()) {
        t.push_back(it->second);
      } else {
        for (char c : buf) t.push_back(static_cast<unsigned char>(c) + 3);
      }
      buf.clear();
    }
    while (true) {
      float best_score = -1e10f;
      int best_id = -1;
      int best_idx = -1;
      for (size_t i = 0; i + 1 < t.size(); ++i) {
        auto it = ids_.find(tok_.piece(t[i]) + tok_.piece(t[i + 1]));
        if (it != ids_.end() && tok_.score(it->second) > best_score) {
          best_score = tok_.score(it->second);
          best_id = it->second;
          best_idx = static_cast<int>(i);
        }
      }
      if (best_idx == -1) break;
      t[best_idx] = best_id;
      t.erase(t.begin() + best_idx + 1);
    }
    return t;
  }

 private:
  const runtime::Llama2cTokenizer& tok_;
  std::unordered_map<std::string, int> ids_;
};

}  // namespace headroom::testing

#endif  // HEADROOM_TESTS_REFERENCE_ENCODER_H_
