// A GenerateRequest from fuzz bytes through the path a real one takes
// before the model runs: the proto's own checks, the prompt byte bound,
// tokenizing (the embedded model's tokenizer), the engine's checks against
// a small pool, then a tenant's admission and release. Every input must
// end in a status, with no crash or undefined behaviour (ASan + UBSan), and
// whatever passes must fit the context and the pool, and leave the tenant's
// accounting where it started once released.
//
// Requests with `messages` are rendered with a ChatML-like template; each
// is also tokenized with a byte-level tokenizer.json whose added tokens are
// the template's, and must hold exactly the <|im_start|> / <|im_end|> ids
// the template writes (one per message, plus the generation prompt's):
// nothing in a message may become one.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/tokenizers/hf_tokenizer.h"
#include "server/chat_renderer.h"
#include "server/request_validation.h"
#include "server/tenants.h"
#include "tests/chat_tokenizer_json.h"

namespace {

using headroom::server::RequestLimits;

const headroom::runtime::Tokenizer& EmbeddedTokenizer() {
  static const auto* tok = [] {
    auto t = headroom::runtime::LoadTokenizer(
        HEADROOM_SOURCE_DIR "/models/headroom-tiny/tokenizer.model", 512);
    if (!t.ok()) __builtin_trap();
    return t->release();
  }();
  return *tok;
}

const headroom::server::ChatRenderer& Renderer() {
  static const auto* render = [] {
    auto r = headroom::server::MakeChatRenderer(
        "{% for m in messages %}"
        "{% if m.role == 'robot' %}{{ raise_exception('no robots') }}"
        "{% endif %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}"
        "<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
        "");
    if (!r.ok()) __builtin_trap();
    return new headroom::server::ChatRenderer(*std::move(r));
  }();
  return *render;
}

// Byte-level BPE whose added tokens are the template's.
const headroom::runtime::HfTokenizer& ChatTokenizer() {
  static const auto* tok = [] {
    auto t = headroom::runtime::HfTokenizer::FromJson(
        headroom::testing::ChatTokenizerJson());
    if (!t.ok()) __builtin_trap();
    return t->release();
  }();
  return *tok;
}

// The rendered messages hold the template's tokens only.
void CheckChatTokens(const headroom::v1::GenerateRequest& proto,
                     const RequestLimits& limits) {
  using namespace headroom::server;
  if (proto.messages_size() == 0) return;
  if (!ValidateMessages(proto.messages(), limits).ok()) return;
  auto prompt = RenderMessages(proto.messages(), AddGenerationPrompt(proto),
                               &Renderer(), limits);
  if (!prompt.ok()) return;
  const std::vector<int> ids =
      ChatTokenizer().EncodeWithOptions(prompt->text, prompt->encode);
  const int64_t turns = proto.messages_size();
  using headroom::testing::kChatImEnd;
  using headroom::testing::kChatImStart;
  if (std::count(ids.begin(), ids.end(), kChatImStart) !=
          turns + (AddGenerationPrompt(proto) ? 1 : 0) ||
      std::count(ids.begin(), ids.end(), kChatImEnd) != turns) {
    __builtin_trap();
  }
}

// headroom-tiny's context (128 tokens) over a pool of 3 pages of 16.
RequestLimits TinyLimits() {
  RequestLimits l;
  l.vocab_size = 512;
  l.max_seq_len = 128;
  l.block_size = 16;
  l.num_blocks = 3;
  l.max_prompt_bytes =
      headroom::server::DefaultMaxPromptBytes(EmbeddedTokenizer(), 128);
  return l;
}

void CheckAdmission(const headroom::server::GenerateRequest& request,
                    const RequestLimits& limits) {
  using namespace headroom::server;
  static auto* tenants = [] {
    TenantConfig t;
    t.name = "fuzz";
    t.api_key_sha256 = ApiKeyDigest("k");
    t.tokens_per_minute = 1000000;
    t.kv_page_share = 0.5;
    return new TenantRegistry({t}, false, 3);
  }();
  const int64_t tokens =
      static_cast<int64_t>(request.prompt_ids.size()) + request.max_tokens;
  if (tokens > limits.max_seq_len) __builtin_trap();
  RequestCost cost;
  cost.tokens = tokens;
  cost.kv_pages = WorstCasePages(request, limits);
  if (cost.kv_pages < 1 || cost.kv_pages > limits.num_blocks) __builtin_trap();
  auto ticket = tenants->Admit(0, cost);
  if (ticket.ok()) tenants->Release(*ticket, cost.tokens);
  for (const TenantSnapshot& s : tenants->Snapshot()) {
    if (s.in_flight != 0 || s.queued != 0 || s.reserved_pages != 0) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const RequestLimits limits = TinyLimits();
  std::vector<headroom::v1::GenerateRequest> requests(1);
  if (!requests[0].ParseFromArray(data, static_cast<int>(size))) {
    // Not a proto: the same bytes as a prompt, and as a message.
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    requests[0].Clear();
    requests[0].set_prompt(bytes);
    headroom::v1::ChatMessage* m = requests.emplace_back().add_messages();
    m->set_role("user");
    m->set_content(bytes);
  }
  for (const headroom::v1::GenerateRequest& proto : requests) {
    auto request = headroom::server::BuildEngineRequest(
        proto, EmbeddedTokenizer(), limits, /*seed=*/7,
        headroom::server::kDefaultMaxTokens, &Renderer());
    if (request.ok()) CheckAdmission(*request, limits);
    CheckChatTokens(proto, limits);
  }
  return 0;
}
