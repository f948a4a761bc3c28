// A GenerateRequest from fuzz bytes through the path a real one takes
// before the model runs: the proto's own checks, the prompt byte bound,
// tokenizing (the embedded model's tokenizer), the engine's checks against
// a small pool, then a tenant's admission and release. Every input must
// end in a status, with no crash or undefined behaviour (ASan + UBSan), and
// whatever passes must fit the context and the pool, and leave the tenant's
// accounting where it started once released.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "server/request_validation.h"
#include "server/tenants.h"

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
  headroom::v1::GenerateRequest proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) {
    // Not a proto: the same bytes as a prompt.
    proto.Clear();
    proto.set_prompt(std::string(reinterpret_cast<const char*>(data), size));
  }
  auto request = headroom::server::BuildEngineRequest(
      proto, EmbeddedTokenizer(), limits, /*seed=*/7);
  if (request.ok()) CheckAdmission(*request, limits);
  return 0;
}
