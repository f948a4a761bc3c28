#include "server/request_validation.h"

#include <algorithm>
#include <climits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/sampling_params.h"

namespace headroom::server {

bool IsValidUtf8(const std::string& text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, C0/C1 overlong lead, or > F4
    }
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;  // overlong, surrogate or beyond Unicode
    }
    i += len;
  }
  return true;
}

namespace {

// Exactly one of prompt and messages, and the prompt's UTF-8.
absl::Status ValidatePromptForm(const v1::GenerateRequest& r) {
  if (r.messages_size() > 0) {
    if (!r.prompt().empty()) {
      return absl::InvalidArgumentError(
          "prompt, messages: give one of them, not both");
    }
    return absl::OkStatus();
  }
  if (r.has_add_generation_prompt()) {
    return absl::InvalidArgumentError(
        "add_generation_prompt: applies to messages only");
  }
  if (r.prompt().empty()) {
    return absl::InvalidArgumentError(
        "prompt: must not be empty (or send messages)");
  }
  if (!IsValidUtf8(r.prompt())) {
    return absl::InvalidArgumentError("prompt: is not valid UTF-8");
  }
  return absl::OkStatus();
}

absl::Status ValidateFields(const v1::GenerateRequest& r,
                            int default_max_tokens) {
  if (auto s = ValidatePromptForm(r); !s.ok()) return s;
  if (r.has_max_tokens() && r.max_tokens() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens must be >= 1, got ", r.max_tokens()));
  }
  const int max_tokens = r.has_max_tokens()       ? r.max_tokens()
                         : default_max_tokens > 0 ? default_max_tokens
                                                  : INT32_MAX;
  if (r.min_tokens() < 0 || r.min_tokens() > max_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "min_tokens must be in [0, max_tokens], got ", r.min_tokens()));
  }
  for (int i = 0; i < r.stop_size(); ++i) {
    if (r.stop(i).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("stop[", i, "] is an empty string"));
    }
    if (!IsValidUtf8(r.stop(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("stop[", i, "] is not valid UTF-8"));
    }
  }
  if (r.logprobs() < 0 || r.logprobs() > runtime::kMaxLogprobs) {
    return absl::InvalidArgumentError(absl::StrCat("logprobs must be in [0, ",
                                                   runtime::kMaxLogprobs,
                                                   "], got ", r.logprobs()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateGenerateRequest(const v1::GenerateRequest& r) {
  return ValidateFields(r, kDefaultMaxTokens);
}

absl::Status ValidateMessages(const ChatMessages& messages,
                              const RequestLimits& limits) {
  int64_t bytes = 0;
  for (const v1::ChatMessage& m : messages) {
    bytes += static_cast<int64_t>(m.role().size() + m.content().size());
  }
  if (auto s = CheckPromptBytes("messages", bytes, limits); !s.ok()) return s;
  for (int i = 0; i < messages.size(); ++i) {
    const v1::ChatMessage& m = messages[i];
    if (m.role().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("messages[", i, "].role: must not be empty"));
    }
    if (!IsValidUtf8(m.role())) {
      return absl::InvalidArgumentError(
          absl::StrCat("messages[", i, "].role: is not valid UTF-8"));
    }
    if (!IsValidUtf8(m.content())) {
      return absl::InvalidArgumentError(
          absl::StrCat("messages[", i, "].content: is not valid UTF-8"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PromptText> RenderMessages(const ChatMessages& messages,
                                          bool add_generation_prompt,
                                          const ChatRenderer* chat,
                                          const RequestLimits& limits) {
  if (chat == nullptr || !*chat) {
    return absl::FailedPreconditionError(
        "messages: the model has no chat template (serve it with "
        "--chat-template FILE, or from a directory whose "
        "tokenizer_config.json has one); send a prompt instead");
  }
  std::vector<runtime::ChatMessage> turns;
  turns.reserve(messages.size());
  for (const v1::ChatMessage& m : messages) {
    turns.push_back({m.role(), m.content()});
  }
  absl::StatusOr<runtime::RenderedChat> rendered =
      (*chat)(turns, add_generation_prompt);
  if (!rendered.ok()) {
    return absl::Status(
        rendered.status().code(),
        absl::StrCat("messages: ", rendered.status().message()));
  }
  if (auto s =
          CheckPromptBytes("messages (rendered)",
                           static_cast<int64_t>(rendered->text.size()), limits);
      !s.ok()) {
    return s;
  }
  PromptText prompt;
  prompt.encode = runtime::ChatEncodeOptions(*rendered);
  prompt.text = std::move(rendered->text);
  return prompt;
}

absl::StatusOr<GenerateRequest> BuildEngineRequest(
    const v1::GenerateRequest& r, const runtime::Tokenizer& tokenizer,
    const RequestLimits& limits, uint64_t seed, int default_max_tokens,
    const ChatRenderer* chat) {
  // The size first: it is the one check that costs nothing per byte.
  if (auto s = CheckPromptBytes(
          "prompt", static_cast<int64_t>(r.prompt().size()), limits);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateMessages(r.messages(), limits); !s.ok()) return s;
  if (auto s = ValidateFields(r, default_max_tokens); !s.ok()) return s;
  GenerateRequest request;
  if (r.messages_size() > 0) {
    absl::StatusOr<PromptText> prompt =
        RenderMessages(r.messages(), AddGenerationPrompt(r), chat, limits);
    if (!prompt.ok()) return prompt.status();
    request.prompt_ids =
        tokenizer.EncodeWithOptions(prompt->text, prompt->encode);
  } else {
    request.prompt_ids = tokenizer.Encode(r.prompt(), /*add_bos=*/true);
  }
  if (r.has_max_tokens()) {
    request.max_tokens = r.max_tokens();
  } else if (default_max_tokens > 0) {
    request.max_tokens = default_max_tokens;
  } else {
    const int64_t rest = int64_t{limits.max_seq_len} -
                         static_cast<int64_t>(request.prompt_ids.size());
    request.max_tokens = static_cast<int>(std::max<int64_t>(1, rest));
  }
  request.min_tokens = r.min_tokens();
  runtime::SamplingParams& sp = request.sampling;
  sp.temperature = r.has_temperature() ? r.temperature() : 1.0f;
  sp.top_k = r.top_k();
  sp.top_p = r.has_top_p() ? r.top_p() : 1.0f;
  sp.min_p = r.min_p();
  sp.repetition_penalty =
      r.has_repetition_penalty() ? r.repetition_penalty() : 1.0f;
  sp.presence_penalty = r.presence_penalty();
  sp.frequency_penalty = r.frequency_penalty();
  sp.seed = r.has_seed() ? r.seed() : seed;
  sp.logprobs = r.logprobs();
  for (const std::string& s : r.stop()) request.stop.push_back(s);
  request.stop_token_ids.assign(r.stop_token_ids().begin(),
                                r.stop_token_ids().end());
  request.ignore_eos = r.ignore_eos();
  if (auto s = ValidateRequest(request, limits); !s.ok()) return s;
  return request;
}

}  // namespace headroom::server
