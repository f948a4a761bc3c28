// JSON bodies of the OpenAI-compatible API from fuzz bytes through what a
// real body meets before the engine: the request parsers (completions,
// chat, tokenize, detokenize), BuildEngineRequest on the embedded model's
// tokenizer and a small pool (with the chat default of "the rest of the
// context"), and the error JSON of whatever is refused. Every input must
// end in a status or a request that fits the context, with no crash, no
// exception and no undefined behaviour (ASan + UBSan).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/openai/errors.h"
#include "server/openai/request_parser.h"
#include "server/request_validation.h"

namespace {

using headroom::server::RequestLimits;
namespace openai = headroom::server::openai;

const headroom::runtime::Tokenizer& EmbeddedTokenizer() {
  static const auto* tok = [] {
    auto t = headroom::runtime::LoadTokenizer(
        HEADROOM_SOURCE_DIR "/models/headroom-tiny/tokenizer.model", 512);
    if (!t.ok()) __builtin_trap();
    return t->release();
  }();
  return *tok;
}

RequestLimits TinyLimits() {
  RequestLimits l;
  l.vocab_size = 512;
  l.max_seq_len = 128;
  l.block_size = 16;
  l.num_blocks = 8;
  l.max_prompt_bytes =
      headroom::server::DefaultMaxPromptBytes(EmbeddedTokenizer(), 128);
  return l;
}

void CheckError(const absl::Status& s) {
  const openai::ApiError e = openai::FromStatus(s);
  if (e.status < 400 || e.status > 599) __builtin_trap();
  if (openai::ErrorJson(e).empty()) __builtin_trap();
}

void Build(const openai::ParsedRequest& r, int default_max_tokens) {
  static const RequestLimits limits = TinyLimits();
  if (r.n < 1 || r.n > openai::kMaxChoices) __builtin_trap();
  auto built = headroom::server::BuildEngineRequest(
      r.generate, EmbeddedTokenizer(), limits, /*seed=*/7, default_max_tokens);
  if (!built.ok()) return CheckError(built.status());
  const int64_t tokens =
      static_cast<int64_t>(built->prompt_ids.size()) + built->max_tokens;
  if (built->max_tokens < 1 || tokens > limits.max_seq_len) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (auto r = openai::ParseCompletionRequest(body); r.ok()) {
    Build(*r, headroom::server::kDefaultMaxTokens);
  } else {
    CheckError(r.status());
  }
  if (auto r = openai::ParseChatRequest(body); r.ok()) {
    // A renderer's stand-in: the messages' contents joined.
    openai::ParsedRequest p = *r;
    std::string prompt;
    for (const auto& m : p.messages) prompt += m.role + ": " + m.content + "\n";
    p.generate.set_prompt(prompt);
    Build(p, /*default_max_tokens=*/0);
  } else {
    CheckError(r.status());
  }
  if (auto r = openai::ParseTokenizeRequest(body); !r.ok()) {
    CheckError(r.status());
  }
  if (auto r = openai::ParseDetokenizeRequest(body); r.ok()) {
    for (int t : r->tokens) {
      if (t < 0) __builtin_trap();
    }
  } else {
    CheckError(r.status());
  }
  return 0;
}
