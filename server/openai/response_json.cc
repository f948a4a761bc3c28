#include "server/openai/response_json.h"

#include "nlohmann/json.hpp"

namespace headroom::server::openai {
namespace {

using Json = nlohmann::json;

// Token pieces may hold part of a UTF-8 character: invalid bytes become
// U+FFFD rather than failing the dump.
std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json Bytes(const std::string& s) {
  Json b = Json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

// Completions: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}.
Json CompletionLogprobs(const TokenRun& run, int top,
                        const runtime::Tokenizer& tok, int offset_base) {
  Json tokens = Json::array(), lps = Json::array(), tops = Json::array(),
       offsets = Json::array();
  int prev = run.prev_token;
  int offset = offset_base;
  for (const runtime::SampledToken& t : run.tokens) {
    const std::string piece = tok.DecodeToken(prev, t.token);
    tokens.push_back(piece);
    lps.push_back(t.logprob);
    Json alt = Json::object();
    for (size_t k = 0; k < t.top.size() && static_cast<int>(k) < top; ++k) {
      alt[tok.DecodeToken(prev, t.top[k].token)] = t.top[k].logprob;
    }
    tops.push_back(std::move(alt));
    offsets.push_back(offset);
    offset += static_cast<int>(piece.size());
    prev = t.token;
  }
  Json j;
  j["tokens"] = std::move(tokens);
  j["token_logprobs"] = std::move(lps);
  j["top_logprobs"] = std::move(tops);
  j["text_offset"] = std::move(offsets);
  return j;
}

// Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs"}]}.
Json ChatLogprobs(const TokenRun& run, int top, const runtime::Tokenizer& tok) {
  Json content = Json::array();
  int prev = run.prev_token;
  for (const runtime::SampledToken& t : run.tokens) {
    const std::string piece = tok.DecodeToken(prev, t.token);
    Json e;
    e["token"] = piece;
    e["logprob"] = t.logprob;
    e["bytes"] = Bytes(piece);
    Json alts = Json::array();
    for (size_t k = 0; k < t.top.size() && static_cast<int>(k) < top; ++k) {
      const std::string p = tok.DecodeToken(prev, t.top[k].token);
      Json a;
      a["token"] = p;
      a["logprob"] = t.top[k].logprob;
      a["bytes"] = Bytes(p);
      alts.push_back(std::move(a));
    }
    e["top_logprobs"] = std::move(alts);
    content.push_back(std::move(e));
    prev = t.token;
  }
  Json j;
  j["content"] = std::move(content);
  j["refusal"] = nullptr;
  return j;
}

Json UsageObject(const ApiUsage& u) {
  Json j;
  j["prompt_tokens"] = u.prompt_tokens;
  j["completion_tokens"] = u.completion_tokens;
  j["total_tokens"] = u.prompt_tokens + u.completion_tokens;
  j["prompt_tokens_details"] = Json{{"cached_tokens", u.cached_tokens}};
  return j;
}

Json HeadObject(const ResponseHead& head, const char* object) {
  Json j;
  j["id"] = head.id;
  j["object"] = object;
  j["created"] = head.created;
  j["model"] = head.model;
  return j;
}

Json Finish(const Choice& c) {
  return c.finish.has_value() ? Json(FinishReasonText(*c.finish)) : Json();
}

}  // namespace

const char* FinishReasonText(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength:
      return "length";
    case FinishReason::kEos:
    case FinishReason::kStopSequence:
      return "stop";
    case FinishReason::kCancelled:
      return "abort";
    case FinishReason::kError:
      return "error";
  }
  return "error";
}

std::string CompletionJson(const ResponseHead& head,
                           const std::vector<Choice>& choices,
                           const ApiUsage& usage,
                           const runtime::Tokenizer& tok) {
  const bool chat = head.endpoint == Endpoint::kChat;
  Json j = HeadObject(head, chat ? "chat.completion" : "text_completion");
  Json list = Json::array();
  for (const Choice& c : choices) {
    Json o;
    o["index"] = c.index;
    if (chat) {
      Json m;
      m["role"] = "assistant";
      m["content"] = c.text;
      o["message"] = std::move(m);
      o["logprobs"] = head.logprobs
                          ? ChatLogprobs(c.logprobs, head.top_logprobs, tok)
                          : Json();
    } else {
      o["text"] = c.text;
      o["logprobs"] = head.logprobs ? CompletionLogprobs(
                                          c.logprobs, head.top_logprobs, tok, 0)
                                    : Json();
    }
    o["finish_reason"] = Finish(c);
    list.push_back(std::move(o));
  }
  j["choices"] = std::move(list);
  j["usage"] = UsageObject(usage);
  return Dump(j);
}

std::string ChunkJson(const ResponseHead& head, const Choice& c, bool first,
                      bool usage_null, const runtime::Tokenizer& tok) {
  const bool chat = head.endpoint == Endpoint::kChat;
  Json j = HeadObject(head, chat ? "chat.completion.chunk" : "text_completion");
  Json o;
  o["index"] = c.index;
  const bool has_logprobs = head.logprobs && !c.logprobs.tokens.empty();
  if (chat) {
    Json delta = Json::object();
    if (first) delta["role"] = "assistant";
    if (!c.text.empty() || first) delta["content"] = c.text;
    o["delta"] = std::move(delta);
    o["logprobs"] = has_logprobs
                        ? ChatLogprobs(c.logprobs, head.top_logprobs, tok)
                        : Json();
  } else {
    o["text"] = c.text;
    o["logprobs"] =
        has_logprobs ? CompletionLogprobs(c.logprobs, head.top_logprobs, tok, 0)
                     : Json();
  }
  o["finish_reason"] = Finish(c);
  j["choices"] = Json::array({std::move(o)});
  if (usage_null) j["usage"] = nullptr;
  return Dump(j);
}

std::string UsageChunkJson(const ResponseHead& head, const ApiUsage& usage) {
  const bool chat = head.endpoint == Endpoint::kChat;
  Json j = HeadObject(head, chat ? "chat.completion.chunk" : "text_completion");
  j["choices"] = Json::array();
  j["usage"] = UsageObject(usage);
  return Dump(j);
}

namespace {
Json ModelObject(const std::string& name, int64_t created, int max_len) {
  Json m;
  m["id"] = name;
  m["object"] = "model";
  m["created"] = created;
  m["owned_by"] = "headroom";
  m["root"] = name;
  m["max_model_len"] = max_len;
  return m;
}
}  // namespace

std::string ModelJson(const std::string& name, int64_t created,
                      int max_model_len) {
  return Dump(ModelObject(name, created, max_model_len));
}

std::string ModelListJson(const std::string& name, int64_t created,
                          int max_model_len) {
  Json j;
  j["object"] = "list";
  j["data"] = Json::array({ModelObject(name, created, max_model_len)});
  return Dump(j);
}

std::string TokenizeJson(const std::vector<int>& tokens, int max_model_len) {
  Json j;
  j["count"] = tokens.size();
  j["max_model_len"] = max_model_len;
  j["tokens"] = tokens;
  return Dump(j);
}

std::string DetokenizeJson(const std::string& text) {
  Json j;
  j["prompt"] = text;
  return Dump(j);
}

}  // namespace headroom::server::openai
