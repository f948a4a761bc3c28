#include "server/openai/handlers.h"

#include <algorithm>
#include <atomic>
#include <ctime>
#include <memory>
#include <mutex>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/http/async_responder.h"
#include "server/openai/errors.h"
#include "server/openai/response_json.h"
#include "server/openai/sse.h"

namespace headroom::server::openai {
namespace {

http::HttpResponse JsonResponse(std::string body) {
  http::HttpResponse r;
  r.status = 200;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

std::string NewId(Endpoint endpoint) {
  static std::atomic<uint64_t> counter{[] {
    std::random_device rd;
    return (uint64_t{rd()} << 32) ^ rd();
  }()};
  const uint64_t x = counter.fetch_add(0x9e3779b97f4a7c15ULL);
  return absl::StrFormat("%s-%016x",
                         endpoint == Endpoint::kChat ? "chatcmpl" : "cmpl", x);
}

// One request's choices, from admission to the last byte. The engine's
// events (engine thread) and the client leaving (I/O thread) meet here
// under `mu`; answers go out through the responder, which never blocks.
class Job : public std::enable_shared_from_this<Job> {
 public:
  Job(HeadroomService* service, ResponseHead head, const ParsedRequest& r,
      std::shared_ptr<http::AsyncResponder> out)
      : service_(service),
        tokenizer_(service->tokenizer()),
        head_(std::move(head)),
        stream_(r.stream),
        include_usage_(r.include_usage),
        out_(std::move(out)),
        sse_(out_),
        choices_(r.n) {}

  // Admits and submits every choice; on an error cancels those already
  // submitted and answers the error (HTTP status and JSON).
  void Start(int tenant, const ParsedRequest& r,
             const HeadroomService::CallOptions& options) {
    auto self = shared_from_this();
    out_->OnClientGone([self] { self->CancelAll(); });
    absl::Status error;
    for (int i = 0; i < r.n; ++i) {
      v1::GenerateRequest g = r.generate;
      if (g.has_seed()) g.set_seed(g.seed() + static_cast<uint64_t>(i));
      auto call = service_->StartCall(
          tenant, g, [self, i](const EngineEvent& e) { self->OnEvent(i, e); },
          options);
      if (!call.ok()) {
        error = call.status();
        break;
      }
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back(*std::move(call));
    }
    if (!error.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        failed_ = true;
      }
      CancelAll();
      out_->Respond(ErrorResponse(error));
      return;
    }
    bool finished;
    {
      // Writes happen under mu_, so the stream keeps the events' order.
      std::lock_guard<std::mutex> lock(mu_);
      started_ = true;
      finished = answer_ready_;
      if (stream_) {
        sse_.Begin();
        for (std::string& chunk : backlog_) out_->Write(std::move(chunk));
        backlog_.clear();
        if (finished) sse_.Done();
      }
    }
    if (!stream_ && finished) Answer();
  }

  void CancelAll() {
    std::vector<std::shared_ptr<HeadroomService::Call>> calls;
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls = calls_;
    }
    for (const auto& c : calls) service_->CancelCall(*c);
  }

 private:
  struct ChoiceState {
    std::string text;   // non-streaming: the whole text
    TokenRun logprobs;  // non-streaming: every token
    int prev_token = -1;
    bool first = true;
    bool done = false;
    FinishReason finish = FinishReason::kLength;
    std::string error;
  };

  // Engine thread.
  void OnEvent(int index, const EngineEvent& e) {
    std::unique_lock<std::mutex> lock(mu_);
    if (failed_) return;
    ChoiceState& c = choices_[index];
    completion_tokens_ += static_cast<int>(e.token_ids.size());
    if (e.finished) {
      c.done = true;
      c.finish = e.finish_reason;
      c.error = e.error;
      prompt_tokens_ = e.usage.prompt_tokens;
      // The prompt is counted once for the n choices: its cached tokens
      // are those no choice computed.
      cached_tokens_ = done_ == 0
                           ? e.usage.cached_tokens
                           : std::min(cached_tokens_, e.usage.cached_tokens);
      ++done_;
    }
    if (!stream_) {
      c.text += e.text;
      for (const auto& t : e.logprobs) c.logprobs.tokens.push_back(t);
      if (done_ < static_cast<int>(choices_.size())) return;
      answer_ready_ = true;
      if (!started_) return;
      lock.unlock();
      Answer();
      return;
    }
    std::vector<std::string> chunks;
    if (e.finished && e.finish_reason == FinishReason::kError) {
      ApiError err;
      err.message = "generation failed: " + e.error;
      chunks.push_back(SseEvent(ErrorJson(err)));
    } else if (!e.text.empty() || !e.logprobs.empty() || e.finished ||
               (c.first && head_.endpoint == Endpoint::kChat)) {
      Choice out;
      out.index = index;
      out.text = e.text;
      out.logprobs.tokens = e.logprobs;
      out.logprobs.prev_token = c.prev_token;
      if (e.finished) out.finish = e.finish_reason;
      chunks.push_back(
          SseEvent(ChunkJson(head_, out, c.first, include_usage_, tokenizer_)));
      c.first = false;
    }
    if (!e.logprobs.empty()) c.prev_token = e.logprobs.back().token;
    if (!e.token_ids.empty()) c.prev_token = e.token_ids.back();
    const bool all_done = done_ == static_cast<int>(choices_.size());
    if (all_done && include_usage_) {
      chunks.push_back(SseEvent(UsageChunkJson(head_, UsageNow())));
    }
    if (all_done) answer_ready_ = true;
    if (!started_) {
      for (auto& ch : chunks) backlog_.push_back(std::move(ch));
      return;
    }
    for (auto& ch : chunks) out_->Write(std::move(ch));
    if (all_done) sse_.Done();
  }

  ApiUsage UsageNow() const {
    return ApiUsage{prompt_tokens_, completion_tokens_, cached_tokens_};
  }

  // Non-streaming: every choice is done.
  void Answer() {
    std::vector<Choice> list;
    ApiUsage usage;
    std::string error;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < choices_.size(); ++i) {
        ChoiceState& c = choices_[i];
        if (c.finish == FinishReason::kError) error = c.error;
        Choice out;
        out.index = static_cast<int>(i);
        out.text = std::move(c.text);
        out.logprobs = std::move(c.logprobs);
        out.finish = c.finish;
        list.push_back(std::move(out));
      }
      usage = UsageNow();
    }
    if (!error.empty()) {
      out_->Respond(
          ErrorResponse(absl::InternalError("generation failed: " + error)));
      return;
    }
    out_->Respond(JsonResponse(CompletionJson(head_, list, usage, tokenizer_)));
  }

  HeadroomService* service_;
  const runtime::Tokenizer& tokenizer_;
  const ResponseHead head_;
  const bool stream_;
  const bool include_usage_;
  std::shared_ptr<http::AsyncResponder> out_;
  SseWriter sse_;

  std::mutex mu_;
  std::vector<ChoiceState> choices_;
  std::vector<std::shared_ptr<HeadroomService::Call>> calls_;
  std::vector<std::string> backlog_;  // stream chunks before Start is done
  int prompt_tokens_ = 0;
  int completion_tokens_ = 0;
  int cached_tokens_ = 0;
  int done_ = 0;
  bool started_ = false;       // every choice submitted
  bool failed_ = false;        // admission failed: events are ignored
  bool answer_ready_ = false;  // every choice done
};

}  // namespace

OpenAiApi::OpenAiApi(HeadroomService* service, OpenAiOptions options)
    : service_(service), options_(std::move(options)) {}

int OpenAiApi::context_length() const {
  return service_->model_info().context_length();
}

absl::Status OpenAiApi::CheckModel(const std::string& model,
                                   bool optional) const {
  if (optional && model.empty()) return absl::OkStatus();
  if (model == options_.model_name) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat("model \"", model,
                                          "\" does not exist; this server "
                                          "serves \"",
                                          options_.model_name, "\""));
}

http::Router OpenAiApi::Routes() {
  http::Router router;
  router.SetErrorFormatter(TransportError);
  // vLLM's liveness-and-readiness probe on the API port: 200 while
  // serving, else 503 (loading, draining).
  router.Add("GET", "/health", [this](const http::HttpRequest&) {
    if (service_->serving()) return JsonResponse("{}");
    return ErrorResponse(absl::UnavailableError("not serving"));
  });
  router.Add("GET", "/v1/models",
             [this](const http::HttpRequest& r) { return Models(r); });
  router.Add("GET", "/v1/models/" + options_.model_name,
             [this](const http::HttpRequest& r) { return Model(r); });
  router.Add("POST", "/v1/completions", [this](const http::HttpRequest& r) {
    return Generate(r, Endpoint::kCompletions);
  });
  router.Add("POST", "/v1/chat/completions",
             [this](const http::HttpRequest& r) {
               return Generate(r, Endpoint::kChat);
             });
  router.Add("POST", "/tokenize",
             [this](const http::HttpRequest& r) { return Tokenize(r); });
  router.Add("POST", "/detokenize",
             [this](const http::HttpRequest& r) { return Detokenize(r); });
  return router;
}

http::HttpResponse OpenAiApi::Models(const http::HttpRequest& request) {
  if (auto t = service_->AuthorizeKey(request.Header("authorization"));
      !t.ok()) {
    return ErrorResponse(t.status());
  }
  return JsonResponse(
      ModelListJson(options_.model_name, options_.created, context_length()));
}

http::HttpResponse OpenAiApi::Model(const http::HttpRequest& request) {
  if (auto t = service_->AuthorizeKey(request.Header("authorization"));
      !t.ok()) {
    return ErrorResponse(t.status());
  }
  return JsonResponse(
      ModelJson(options_.model_name, options_.created, context_length()));
}

http::HttpResponse OpenAiApi::Generate(const http::HttpRequest& request,
                                       Endpoint endpoint) {
  auto tenant = service_->AuthorizeKey(request.Header("authorization"));
  if (!tenant.ok()) return ErrorResponse(tenant.status());
  auto parsed = endpoint == Endpoint::kChat
                    ? ParseChatRequest(request.body)
                    : ParseCompletionRequest(request.body);
  if (!parsed.ok()) return ErrorResponse(parsed.status());
  if (auto s = CheckModel(parsed->model, false); !s.ok()) {
    return ErrorResponse(s);
  }
  HeadroomService::CallOptions options;
  options.api = "openai";
  if (endpoint == Endpoint::kChat) {
    if (!service_->has_chat_template()) {
      ApiError e;
      e.status = 400;
      e.type = "invalid_request_error";
      e.message = absl::StrCat("model ", options_.model_name,
                               " has no chat template; supply one with "
                               "--chat-template FILE");
      e.code = "chat_template_missing";
      return ErrorResponse(e);
    }
    // The service renders and tokenizes them, as gRPC's messages.
    for (const ChatMessage& m : parsed->messages) {
      v1::ChatMessage* turn = parsed->generate.add_messages();
      turn->set_role(m.role);
      turn->set_content(m.content);
    }
    parsed->generate.set_add_generation_prompt(true);
    options.default_max_tokens = 0;  // the rest of the context
  }
  ResponseHead head;
  head.id = NewId(endpoint);
  head.created = static_cast<int64_t>(std::time(nullptr));
  head.model = options_.model_name;
  head.endpoint = endpoint;
  head.logprobs = parsed->logprobs;
  head.top_logprobs = parsed->top_logprobs;
  http::HttpResponse deferred;
  deferred.deferred = [this, tenant = *tenant, head = std::move(head),
                       parsed = *std::move(parsed),
                       options](std::shared_ptr<http::AsyncResponder> out) {
    auto job = std::make_shared<Job>(service_, head, parsed, std::move(out));
    job->Start(tenant, parsed, options);
  };
  return deferred;
}

http::HttpResponse OpenAiApi::Tokenize(const http::HttpRequest& request) {
  auto tenant = service_->AuthorizeKey(request.Header("authorization"));
  if (!tenant.ok()) return ErrorResponse(tenant.status());
  auto body = ParseTokenizeRequest(request.body);
  if (!body.ok()) return ErrorResponse(body.status());
  if (auto s = CheckModel(body->model, true); !s.ok()) {
    return ErrorResponse(s);
  }
  auto ids =
      service_->TokenizeText(*tenant, body->prompt, body->add_special_tokens);
  if (!ids.ok()) return ErrorResponse(ids.status());
  return JsonResponse(TokenizeJson(*ids, context_length()));
}

http::HttpResponse OpenAiApi::Detokenize(const http::HttpRequest& request) {
  auto tenant = service_->AuthorizeKey(request.Header("authorization"));
  if (!tenant.ok()) return ErrorResponse(tenant.status());
  auto body = ParseDetokenizeRequest(request.body);
  if (!body.ok()) return ErrorResponse(body.status());
  if (auto s = CheckModel(body->model, true); !s.ok()) {
    return ErrorResponse(s);
  }
  const int vocab = service_->tokenizer().vocab_size();
  for (size_t i = 0; i < body->tokens.size(); ++i) {
    if (body->tokens[i] >= vocab) {
      return ErrorResponse(absl::InvalidArgumentError(
          absl::StrCat("tokens[", i, "]: ", body->tokens[i],
                       " is not in the vocabulary (", vocab, " tokens)")));
    }
  }
  return JsonResponse(
      DetokenizeJson(service_->tokenizer().Decode(body->tokens)));
}

}  // namespace headroom::server::openai
