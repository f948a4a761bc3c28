#include "server/openai/request_parser.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace headroom::server::openai {
namespace {

using Json = nlohmann::json;

absl::Status Bad(const std::string& param, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(param, ": ", why));
}

// Fields OpenAI or vLLM define that this server does not serve.
const std::set<std::string>& Unsupported() {
  static const auto* s =
      new std::set<std::string>{"tools",
                                "tool_choice",
                                "functions",
                                "function_call",
                                "parallel_tool_calls",
                                "response_format",
                                "logit_bias",
                                "echo",
                                "suffix",
                                "best_of",
                                "audio",
                                "modalities",
                                "prediction",
                                "web_search_options",
                                "reasoning_effort",
                                "service_tier",
                                "store",
                                "metadata",
                                "guided_json",
                                "guided_regex",
                                "guided_choice",
                                "guided_grammar",
                                "use_beam_search",
                                "prompt_logprobs",
                                "length_penalty",
                                "include_stop_str_in_output",
                                "skip_special_tokens",
                                "spaces_between_special_tokens",
                                "truncate_prompt_tokens",
                                "allowed_token_ids",
                                "bad_words",
                                "add_generation_prompt",
                                "continue_final_message",
                                "chat_template",
                                "chat_template_kwargs",
                                "documents",
                                "priority",
                                "request_id",
                                "stream_options.continuous_usage_stats"};
  return *s;
}

// Values that mean "not asked for": a request that sends them is served.
bool IsNeutral(const std::string& key, const Json& v) {
  if (v.is_null()) return true;
  if ((key == "logit_bias" || key == "metadata") && v.is_object() &&
      v.empty()) {
    return true;
  }
  if ((key == "tools" || key == "functions") && v.is_array() && v.empty()) {
    return true;
  }
  if ((key == "echo" || key == "store" || key == "use_beam_search" ||
       key == "include_stop_str_in_output") &&
      v.is_boolean() && !v.get<bool>()) {
    return true;
  }
  if (key == "skip_special_tokens" && v.is_boolean() && v.get<bool>()) {
    return true;
  }
  if (key == "tool_choice" && v.is_string() && v.get<std::string>() == "none") {
    return true;
  }
  if (key == "best_of" && v.is_number_integer() && v.get<int64_t>() == 1) {
    return true;
  }
  if (key == "response_format" && v.is_object() && v.contains("type") &&
      v["type"] == "text") {
    return true;
  }
  return false;
}

absl::StatusOr<int64_t> Integer(const std::string& key, const Json& v,
                                int64_t lo, int64_t hi) {
  int64_t x = 0;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() &&
        v.get<uint64_t>() >
            static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Bad(key, "is out of range");
    }
    x = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15) {
      return Bad(key, "must be an integer");
    }
    x = static_cast<int64_t>(d);
  } else {
    return Bad(key, "must be an integer");
  }
  if (x < lo || x > hi) {
    return Bad(key, absl::StrCat("must be in [", lo, ", ", hi, "], got ", x));
  }
  return x;
}

absl::StatusOr<float> Number(const std::string& key, const Json& v) {
  if (!v.is_number()) return Bad(key, "must be a number");
  const double d = v.get<double>();
  if (!std::isfinite(d) || std::fabs(d) > 1e30) {
    return Bad(key, "must be a finite number");
  }
  return static_cast<float>(d);
}

absl::StatusOr<bool> Bool(const std::string& key, const Json& v) {
  if (!v.is_boolean()) return Bad(key, "must be true or false");
  return v.get<bool>();
}

absl::StatusOr<std::string> String(const std::string& key, const Json& v) {
  if (!v.is_string()) return Bad(key, "must be a string");
  return v.get<std::string>();
}

absl::StatusOr<Json> ParseObject(std::string_view body) {
  Json j = Json::parse(body.begin(), body.end(), nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError("the request body is not valid JSON");
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError("the request body must be a JSON object");
  }
  return j;
}

#define HR_ASSIGN(lhs, expr)          \
  do {                                \
    auto _v = (expr);                 \
    if (!_v.ok()) return _v.status(); \
    lhs = *std::move(_v);             \
  } while (0)

absl::Status ParseMessages(const Json& v, std::vector<ChatMessage>* out) {
  if (!v.is_array() || v.empty()) {
    return Bad("messages", "must be a non-empty list of messages");
  }
  static const std::set<std::string> kRoles = {"system", "user", "assistant",
                                               "developer"};
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string at = absl::StrCat("messages[", i, "]");
    const Json& m = v[i];
    if (!m.is_object()) return Bad(at, "must be an object");
    ChatMessage msg;
    bool has_content = false;
    for (const auto& [key, value] : m.items()) {
      if (key == "role") {
        HR_ASSIGN(msg.role, String(at + ".role", value));
      } else if (key == "content") {
        if (value.is_string()) {
          msg.content = value.get<std::string>();
        } else if (value.is_array()) {
          // Parts: text only.
          for (size_t k = 0; k < value.size(); ++k) {
            const Json& part = value[k];
            const std::string p = absl::StrCat(at, ".content[", k, "]");
            if (!part.is_object() || !part.contains("type") ||
                part["type"] != "text" || !part.contains("text") ||
                !part["text"].is_string()) {
              return Bad(p,
                         "only {\"type\": \"text\", \"text\": ...} parts "
                         "are supported");
            }
            msg.content += part["text"].get<std::string>();
          }
        } else if (!value.is_null()) {
          return Bad(at + ".content", "must be a string or a list of parts");
        }
        has_content = !value.is_null();
      } else if (key == "name") {
        if (!value.is_string() && !value.is_null()) {
          return Bad(at + ".name", "must be a string");
        }
      } else if (key == "tool_calls" || key == "tool_call_id" ||
                 key == "function_call" || key == "audio" || key == "refusal") {
        if (!IsNeutral(key, value) && !(value.is_array() && value.empty())) {
          return Bad(at + "." + key, "is not supported");
        }
      } else {
        return Bad(at + "." + key, "unknown field");
      }
    }
    if (msg.role.empty()) return Bad(at + ".role", "is required");
    if (kRoles.count(msg.role) == 0) {
      return Bad(at + ".role",
                 "must be system, user, assistant or developer, got \"" +
                     msg.role + "\"");
    }
    if (!has_content) return Bad(at + ".content", "is required");
    out->push_back(std::move(msg));
  }
  return absl::OkStatus();
}

absl::StatusOr<ParsedRequest> ParseGeneration(std::string_view body,
                                              Endpoint endpoint) {
  Json j;
  HR_ASSIGN(j, ParseObject(body));
  ParsedRequest r;
  r.endpoint = endpoint;
  v1::GenerateRequest& g = r.generate;
  const bool chat = endpoint == Endpoint::kChat;
  bool have_prompt = false, have_model = false;
  bool stream_options_set = false;
  bool top_logprobs_set = false;
  for (const auto& [key, v] : j.items()) {
    if (Unsupported().count(key) > 0) {
      if (IsNeutral(key, v)) continue;
      return Bad(key, "is not supported by this server");
    }
    if (v.is_null()) continue;  // same as absent
    if (key == "model") {
      HR_ASSIGN(r.model, String(key, v));
      have_model = true;
    } else if (key == "prompt" && !chat) {
      if (v.is_string()) {
        g.set_prompt(v.get<std::string>());
      } else if (v.is_array() && v.size() == 1 && v[0].is_string()) {
        g.set_prompt(v[0].get<std::string>());
      } else if (v.is_array() && !v.empty() && v[0].is_string()) {
        return Bad(key, "one prompt per request is supported, got " +
                            std::to_string(v.size()));
      } else {
        return Bad(key,
                   "must be a string (token id prompts are not "
                   "supported)");
      }
      have_prompt = true;
    } else if (key == "messages" && chat) {
      if (auto s = ParseMessages(v, &r.messages); !s.ok()) return s;
      have_prompt = true;
    } else if (key == "max_tokens" || key == "max_completion_tokens") {
      int64_t x;
      HR_ASSIGN(x, Integer(key, v, 1, std::numeric_limits<int32_t>::max()));
      if (g.has_max_tokens() && g.max_tokens() != x) {
        return Bad(key,
                   "differs from the other of max_tokens and "
                   "max_completion_tokens");
      }
      g.set_max_tokens(static_cast<int32_t>(x));
    } else if (key == "min_tokens") {
      int64_t x;
      HR_ASSIGN(x, Integer(key, v, 0, std::numeric_limits<int32_t>::max()));
      g.set_min_tokens(static_cast<int32_t>(x));
    } else if (key == "temperature") {
      float x;
      HR_ASSIGN(x, Number(key, v));
      g.set_temperature(x);
    } else if (key == "top_p") {
      float x;
      HR_ASSIGN(x, Number(key, v));
      g.set_top_p(x);
    } else if (key == "top_k") {
      int64_t x;
      HR_ASSIGN(x, Integer(key, v, -1, std::numeric_limits<int32_t>::max()));
      g.set_top_k(x < 0 ? 0 : static_cast<int32_t>(x));  // vLLM: -1 = off
    } else if (key == "min_p") {
      float x;
      HR_ASSIGN(x, Number(key, v));
      g.set_min_p(x);
    } else if (key == "repetition_penalty") {
      float x;
      HR_ASSIGN(x, Number(key, v));
      g.set_repetition_penalty(x);
    } else if (key == "presence_penalty") {
      float x;
      HR_ASSIGN(x, Number(key, v));
      g.set_presence_penalty(x);
    } else if (key == "frequency_penalty") {
      float x;
      HR_ASSIGN(x, Number(key, v));
      g.set_frequency_penalty(x);
    } else if (key == "seed") {
      int64_t x;
      HR_ASSIGN(x, Integer(key, v, std::numeric_limits<int64_t>::min(),
                           std::numeric_limits<int64_t>::max()));
      g.set_seed(static_cast<uint64_t>(x));
    } else if (key == "stop") {
      if (v.is_string()) {
        g.add_stop(v.get<std::string>());
      } else if (v.is_array()) {
        for (size_t i = 0; i < v.size(); ++i) {
          if (!v[i].is_string()) {
            return Bad(absl::StrCat("stop[", i, "]"), "must be a string");
          }
          g.add_stop(v[i].get<std::string>());
        }
      } else {
        return Bad(key, "must be a string or a list of strings");
      }
    } else if (key == "stop_token_ids") {
      if (!v.is_array()) return Bad(key, "must be a list of token ids");
      for (size_t i = 0; i < v.size(); ++i) {
        int64_t x;
        HR_ASSIGN(x, Integer(absl::StrCat("stop_token_ids[", i, "]"), v[i],
                             std::numeric_limits<int32_t>::min(),
                             std::numeric_limits<int32_t>::max()));
        g.add_stop_token_ids(static_cast<int32_t>(x));
      }
    } else if (key == "ignore_eos") {
      bool x;
      HR_ASSIGN(x, Bool(key, v));
      g.set_ignore_eos(x);
    } else if (key == "n") {
      int64_t x;
      HR_ASSIGN(x, Integer(key, v, 1, kMaxChoices));
      r.n = static_cast<int>(x);
    } else if (key == "stream") {
      HR_ASSIGN(r.stream, Bool(key, v));
    } else if (key == "stream_options") {
      if (!v.is_object()) return Bad(key, "must be an object");
      stream_options_set = true;
      for (const auto& [k2, v2] : v.items()) {
        const std::string name = "stream_options." + k2;
        if (k2 == "include_usage") {
          if (v2.is_null()) continue;
          HR_ASSIGN(r.include_usage, Bool(name, v2));
        } else if (Unsupported().count(name) > 0) {
          if (v2.is_null() || (v2.is_boolean() && !v2.get<bool>())) continue;
          return Bad(name, "is not supported by this server");
        } else {
          return Bad(name, "unknown field");
        }
      }
    } else if (key == "logprobs") {
      if (chat) {
        HR_ASSIGN(r.logprobs, Bool(key, v));
      } else {
        int64_t x;
        HR_ASSIGN(x, Integer(key, v, 0, 20));
        r.logprobs = true;
        r.top_logprobs = static_cast<int>(x);
      }
    } else if (key == "top_logprobs" && chat) {
      int64_t x;
      HR_ASSIGN(x, Integer(key, v, 0, 20));
      r.top_logprobs = static_cast<int>(x);
      top_logprobs_set = true;
    } else if (key == "user") {
      if (!v.is_string()) return Bad(key, "must be a string");
    } else {
      return Bad(key, "unknown field");
    }
  }
  if (!have_model) return Bad("model", "is required");
  if (!have_prompt) return Bad(chat ? "messages" : "prompt", "is required");
  if (stream_options_set && !r.stream) {
    return Bad("stream_options", "is only allowed when stream is true");
  }
  if (top_logprobs_set && r.top_logprobs > 0 && !r.logprobs) {
    return Bad("top_logprobs", "needs logprobs: true");
  }
  // The engine reports a token's own logprob with at least one alternative.
  if (r.logprobs) g.set_logprobs(r.top_logprobs > 0 ? r.top_logprobs : 1);
  return r;
}

absl::Status CheckModelField(const Json& v, std::string* model) {
  if (v.is_null()) return absl::OkStatus();
  auto s = String("model", v);
  if (!s.ok()) return s.status();
  *model = *s;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ParsedRequest> ParseCompletionRequest(std::string_view body) {
  return ParseGeneration(body, Endpoint::kCompletions);
}

absl::StatusOr<ParsedRequest> ParseChatRequest(std::string_view body) {
  return ParseGeneration(body, Endpoint::kChat);
}

absl::StatusOr<TokenizeBody> ParseTokenizeRequest(std::string_view body) {
  Json j;
  HR_ASSIGN(j, ParseObject(body));
  TokenizeBody out;
  bool have_prompt = false;
  for (const auto& [key, v] : j.items()) {
    if (key == "model") {
      if (auto s = CheckModelField(v, &out.model); !s.ok()) return s;
    } else if (key == "prompt") {
      HR_ASSIGN(out.prompt, String(key, v));
      have_prompt = true;
    } else if (key == "add_special_tokens") {
      if (v.is_null()) continue;
      HR_ASSIGN(out.add_special_tokens, Bool(key, v));
    } else if (key == "messages") {
      return Bad(key, "is not supported (send prompt)");
    } else {
      return Bad(key, "unknown field");
    }
  }
  if (!have_prompt) return Bad("prompt", "is required");
  return out;
}

absl::StatusOr<DetokenizeBody> ParseDetokenizeRequest(std::string_view body) {
  Json j;
  HR_ASSIGN(j, ParseObject(body));
  DetokenizeBody out;
  bool have_tokens = false;
  for (const auto& [key, v] : j.items()) {
    if (key == "model") {
      if (auto s = CheckModelField(v, &out.model); !s.ok()) return s;
    } else if (key == "tokens") {
      if (!v.is_array()) return Bad(key, "must be a list of token ids");
      for (size_t i = 0; i < v.size(); ++i) {
        int64_t x;
        HR_ASSIGN(x, Integer(absl::StrCat("tokens[", i, "]"), v[i], 0,
                             std::numeric_limits<int32_t>::max()));
        out.tokens.push_back(static_cast<int>(x));
      }
      have_tokens = true;
    } else {
      return Bad(key, "unknown field");
    }
  }
  if (!have_tokens) return Bad("tokens", "is required");
  return out;
}

}  // namespace headroom::server::openai
