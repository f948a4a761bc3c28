#include "server/service.h"

#include <deque>
#include <random>

#include "absl/strings/str_cat.h"
#include "runtime/sampling/sampling_params.h"
#include "server/engine/scheduler.h"

namespace headroom::server {

using Clock = std::chrono::steady_clock;

namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbers.
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

const char* CodeName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case absl::StatusCode::kUnauthenticated:
      return "UNAUTHENTICATED";
    case absl::StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kUnavailable:
      return "UNAVAILABLE";
    case absl::StatusCode::kPermissionDenied:
      return "PERMISSION_DENIED";
    default:
      return "INTERNAL";
  }
}

v1::FinishReason ToProto(FinishReason r) {
  switch (r) {
    case FinishReason::kLength:
      return v1::LENGTH;
    case FinishReason::kEos:
      return v1::EOS;
    case FinishReason::kStopSequence:
      return v1::STOP_SEQUENCE;
    case FinishReason::kCancelled:
      return v1::CANCELLED;
    case FinishReason::kError:
      return v1::ERROR;
  }
  return v1::ERROR;
}

void AddLogprobs(const EngineEvent& e,
                 google::protobuf::RepeatedPtrField<v1::Logprobs>* out) {
  for (const runtime::SampledToken& t : e.logprobs) {
    v1::Logprobs* l = out->Add();
    l->set_token_id(t.token);
    l->set_logprob(t.logprob);
    for (const runtime::TokenLogprob& top : t.top) {
      v1::TokenLogprob* p = l->add_top();
      p->set_token_id(top.token);
      p->set_logprob(top.logprob);
    }
  }
}

void FillUsage(const Usage& u, v1::Usage* out) {
  out->set_prompt_tokens(u.prompt_tokens);
  out->set_completion_tokens(u.completion_tokens);
  out->set_cached_tokens(u.cached_tokens);
  out->set_time_to_first_token_seconds(u.time_to_first_token);
  out->set_queue_time_seconds(u.queue_seconds);
}

// A fresh seed for requests without one: seeded once from the OS, then a
// counter, so concurrent requests never share a stream.
uint64_t FreshSeed() {
  static std::atomic<uint64_t> next{[] {
    std::random_device rd;
    return (uint64_t{rd()} << 32) ^ rd();
  }()};
  return next.fetch_add(0x9e3779b97f4a7c15ULL);
}

}  // namespace

// One admitted request: its tenant, quota ticket and timings. Shared by the
// engine callback (engine thread) and the reactor (gRPC threads); the
// accounting in OnEvent runs on the engine thread only.
class HeadroomService::Call {
 public:
  Call(HeadroomService* service, int tenant, std::string tenant_name,
       int max_tokens, const char* api)
      : service_(service),
        tenant_(tenant),
        tenant_name_(std::move(tenant_name)),
        max_tokens_(max_tokens),
        api_(api),
        arrival_(Clock::now()) {}

  void set_ticket(AdmissionTicket ticket) { ticket_ = ticket; }
  void set_sink(std::function<void(const EngineEvent&)> sink) {
    sink_ = std::move(sink);
  }
  void set_engine_id(int64_t id) { engine_id_.store(id); }
  int64_t engine_id() const { return engine_id_.load(); }

  // Engine thread: metrics, quotas and fair share, then the reactor.
  void OnEvent(const EngineEvent& e) {
    ServerMetrics& m = *service_->metrics_;
    ServingContext& ctx = *service_->context_;
    const auto now = Clock::now();
    const int n = static_cast<int>(e.token_ids.size());
    if (n > 0) {
      m.generation_tokens_total.WithLabels({tenant_name_}).Increment(n);
      m.api_generation_tokens_total.WithLabels({api_, tenant_name_})
          .Increment(n);
      ctx.fair_share->Charge(tenant_name_, n);
      if (generated_ == 0) {
        ctx.tenants->OnFirstToken(ticket_);
        m.time_to_first_token_seconds.WithLabels({tenant_name_})
            .Observe(std::chrono::duration<double>(now - arrival_).count());
      } else {
        m.inter_token_latency_seconds.WithLabels({tenant_name_})
            .Observe(std::chrono::duration<double>(now - last_token_).count());
      }
      generated_ += n;
      last_token_ = now;
    }
    if (e.finished) {
      m.request_success_total
          .WithLabels({FinishReasonName(e.finish_reason), tenant_name_})
          .Increment();
      m.e2e_request_latency_seconds.WithLabels({tenant_name_})
          .Observe(std::chrono::duration<double>(now - arrival_).count());
      m.request_queue_time_seconds.WithLabels({tenant_name_})
          .Observe(e.usage.queue_seconds);
      if (e.usage.scheduled) {
        m.prefix_cache_queries_total.WithLabels({tenant_name_})
            .Increment(e.usage.prompt_tokens);
        m.prefix_cache_hits_total.WithLabels({tenant_name_})
            .Increment(e.usage.cached_tokens);
      }
      ctx.tenants->Release(ticket_, max_tokens_ - generated_);
      ctx.fair_share->RequestEnded(tenant_name_);
    }
    if (sink_) sink_(e);
    if (e.finished) {
      sink_ = nullptr;  // drops the reactor's shared state
      service_->CallEnded();
    }
  }

 private:
  HeadroomService* service_;
  const int tenant_;
  const std::string tenant_name_;
  const int max_tokens_;
  const char* const api_;
  const Clock::time_point arrival_;
  Clock::time_point last_token_;
  int generated_ = 0;
  AdmissionTicket ticket_;
  std::function<void(const EngineEvent&)> sink_;
  std::atomic<int64_t> engine_id_{-1};
};

HeadroomService::HeadroomService(ServerMetrics* metrics) : metrics_(metrics) {}

HeadroomService::~HeadroomService() {
  // The engine thread ends calls (CallEnded notifies idle_): it stops
  // before the members it touches go.
  if (context_ != nullptr && context_->engine != nullptr) {
    context_->engine->Stop();
  }
}

void HeadroomService::Activate(std::unique_ptr<ServingContext> context) {
  context_ = std::move(context);
  active_.store(true);
  state_.store(State::kServing);
}

void HeadroomService::BeginDrain() { state_.store(State::kDraining); }

bool HeadroomService::WaitIdle(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_until(lock, deadline,
                          [&] { return in_flight_ == 0 && open_calls_ == 0; });
}

int HeadroomService::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

int HeadroomService::open_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_calls_;
}

void HeadroomService::ReactorOpened() {
  std::lock_guard<std::mutex> lock(mu_);
  ++open_calls_;
}

void HeadroomService::ReactorDone() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --open_calls_;
  }
  idle_.notify_all();
}

Engine* HeadroomService::engine() const {
  return active_.load() ? context_->engine.get() : nullptr;
}

const TenantRegistry* HeadroomService::tenants() const {
  return active_.load() ? context_->tenants.get() : nullptr;
}

void HeadroomService::CallEnded() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
  }
  idle_.notify_all();
}

void HeadroomService::Rejected(const absl::Status& status,
                               const std::string& tenant) {
  metrics_->request_rejected_total.WithLabels({CodeName(status.code()), tenant})
      .Increment();
}

absl::StatusOr<int> HeadroomService::Authorize(
    grpc::CallbackServerContext* context) {
  const State state = state_.load();
  if (state == State::kLoading) {
    return absl::UnavailableError(
        "the model is still loading; retry when the health check says "
        "SERVING");
  }
  if (state == State::kDraining) {
    return absl::UnavailableError("the server is shutting down");
  }
  std::string authorization;
  const auto& md = context->client_metadata();
  if (auto it = md.find("authorization"); it != md.end()) {
    authorization.assign(it->second.data(), it->second.size());
  }
  return context_->tenants->Authenticate(authorization);
}

absl::StatusOr<int> HeadroomService::AuthorizeKey(
    const std::string& authorization) {
  const State state = state_.load();
  absl::Status s;
  if (state == State::kLoading) {
    s = absl::UnavailableError(
        "the model is still loading; retry when /readyz says ready");
  } else if (state == State::kDraining) {
    s = absl::UnavailableError("the server is shutting down");
  } else {
    auto tenant = context_->tenants->Authenticate(authorization);
    if (tenant.ok()) return tenant;
    s = tenant.status();
  }
  Rejected(s, "");
  return s;
}

void HeadroomService::CancelCall(const Call& call) {
  if (Engine* e = engine()) e->Cancel(call.engine_id());
}

absl::StatusOr<std::shared_ptr<HeadroomService::Call>>
HeadroomService::StartCall(grpc::CallbackServerContext* context,
                           const v1::GenerateRequest& r,
                           std::function<void(const EngineEvent&)> sink) {
  auto tenant = Authorize(context);
  if (!tenant.ok()) {
    Rejected(tenant.status(), "");
    return tenant.status();
  }
  return StartCall(*tenant, r, std::move(sink), CallOptions());
}

absl::StatusOr<std::shared_ptr<HeadroomService::Call>>
HeadroomService::StartCall(int tenant, const v1::GenerateRequest& r,
                           std::function<void(const EngineEvent&)> sink,
                           const CallOptions& options) {
  ServingContext& ctx = *context_;
  const TenantConfig& tc = ctx.tenants->tenant(tenant);
  // Every check first: an invalid request is INVALID_ARGUMENT (which a
  // client does not retry) even when it is also over a quota.
  auto built =
      BuildEngineRequest(r, *ctx.tokenizer, ctx.engine->limits(), FreshSeed(),
                         options.default_max_tokens, &ctx.chat_renderer);
  if (!built.ok()) {
    Rejected(built.status(), tc.name);
    return built.status();
  }
  GenerateRequest request = *std::move(built);
  request.priority = tc.priority;
  request.tenant = tc.name;
  request.cache_salt = CacheSalt(tc);

  RequestCost cost;
  const int prompt_tokens = static_cast<int>(request.prompt_ids.size());
  cost.tokens = int64_t{prompt_tokens} + request.max_tokens;
  cost.kv_pages = WorstCasePages(request, ctx.engine->limits());
  if (ctx.engine->prefix_caching()) {
    cost.shared_pages = ShareablePromptHashes(
        ctx.engine->PrefixRootFor(request.cache_salt), request.prompt_ids,
        ctx.engine->limits().block_size);
  }
  auto ticket = ctx.tenants->Admit(tenant, cost);
  if (!ticket.ok()) {
    Rejected(ticket.status(), tc.name);
    return ticket.status();
  }
  auto call = std::make_shared<Call>(this, tenant, tc.name, request.max_tokens,
                                     options.api);
  call->set_ticket(*ticket);
  call->set_sink(std::move(sink));
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++in_flight_;
  }
  ctx.fair_share->RequestStarted(tc.name);
  // The engine holds the Call until its final event.
  auto id = ctx.engine->Submit(
      std::move(request), [call](const EngineEvent& e) { call->OnEvent(e); });
  if (!id.ok()) {
    AdmissionTicket t = *ticket;
    ctx.tenants->Release(t, cost.tokens);
    ctx.fair_share->RequestEnded(tc.name);
    CallEnded();
    Rejected(id.status(), tc.name);
    return id.status();
  }
  metrics_->prompt_tokens_total.WithLabels({tc.name}).Increment(prompt_tokens);
  metrics_->api_prompt_tokens_total.WithLabels({options.api, tc.name})
      .Increment(prompt_tokens);
  metrics_->api_requests_total.WithLabels({options.api, tc.name}).Increment();
  call->set_engine_id(*id);
  return call;
}

namespace {

// The engine request behind a Generate or GenerateStream reactor: admitted
// by Start, cancelled by Cancel (a no-op before a successful Start). It
// lives as long as its reactor (which gRPC deletes in OnDone, after the
// last write), and counts the reactor open for the drain meanwhile.
class EngineRequestHandle {
 public:
  explicit EngineRequestHandle(HeadroomService* service) : service_(service) {
    service_->ReactorOpened();
  }
  ~EngineRequestHandle() { service_->ReactorDone(); }
  EngineRequestHandle(const EngineRequestHandle&) = delete;
  EngineRequestHandle& operator=(const EngineRequestHandle&) = delete;

  absl::Status Start(grpc::CallbackServerContext* context,
                     const v1::GenerateRequest& request,
                     std::function<void(const EngineEvent&)> sink) {
    auto call = service_->StartCall(context, request, std::move(sink));
    if (!call.ok()) return call.status();
    call_ = *std::move(call);
    engine_ = service_->engine();
    return absl::OkStatus();
  }

  void Cancel() const {
    if (call_ != nullptr && engine_ != nullptr) {
      engine_->Cancel(call_->engine_id());
    }
  }

 private:
  HeadroomService* const service_;
  std::shared_ptr<HeadroomService::Call> call_;
  Engine* engine_ = nullptr;
};

// GenerateStream's reactor. Engine events (engine thread) and gRPC reactions
// meet in `Shared` under its mutex; gRPC operations are started outside it.
// Invariants: at most one write in flight; Finish (or StartWriteAndFinish)
// is called exactly once, after which nothing touches the reactor; the
// reactor is alive until OnDone, which gRPC calls only after Finish.
class StreamReactor final
    : public grpc::ServerWriteReactor<v1::GenerateStreamResponse> {
 public:
  struct Shared {
    std::mutex mu;
    std::deque<v1::GenerateStreamResponse> pending;
    bool final_queued = false;  // the last message is in `pending`
    grpc::Status final_status;  // with it
    bool write_in_flight = false;
    bool finished = false;               // Finish issued
    bool cancelled = false;              // OnCancel seen
    v1::GenerateStreamResponse current;  // the message being written
  };

  StreamReactor(HeadroomService* service, grpc::CallbackServerContext* context,
                const v1::GenerateRequest* request)
      : shared_(std::make_shared<Shared>()), request_(service) {
    // The sink only holds the shared state: the reactor may be gone (client
    // cancelled) when the engine's last events arrive.
    auto sink = [this, shared = shared_](const EngineEvent& e) {
      v1::GenerateStreamResponse msg;
      msg.set_text(e.text);
      for (int t : e.token_ids) msg.add_token_ids(t);
      AddLogprobs(e, msg.mutable_logprobs());
      grpc::Status status = grpc::Status::OK;
      if (e.finished) {
        msg.set_finish_reason(ToProto(e.finish_reason));
        FillUsage(e.usage, msg.mutable_usage());
        if (e.finish_reason == FinishReason::kError) {
          status = grpc::Status(grpc::StatusCode::INTERNAL,
                                "generation failed: " + e.error);
        }
      }
      Action action;
      {
        std::lock_guard<std::mutex> lock(shared->mu);
        if (shared->finished) return;
        shared->pending.push_back(std::move(msg));
        if (e.finished) {
          shared->final_queued = true;
          shared->final_status = status;
        }
        action = NextLocked(*shared);
      }
      // Nothing to do: leave `this` alone. Once the lock is released, a gRPC
      // thread may finish the call and delete the reactor; with a write or
      // the finish to issue (marked under the lock), only this thread can.
      if (action.kind != Kind::kNone) Perform(action);
    };
    if (auto s = request_.Start(context, *request, std::move(sink)); !s.ok()) {
      shared_->finished = true;
      Finish(ToGrpc(s));
    }
  }

  void OnWriteDone(bool ok) override {
    Action action;
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->write_in_flight = false;
      if (!ok) shared_->cancelled = true;  // the client is gone
      action = NextLocked(*shared_);
    }
    if (!ok) request_.Cancel();
    Perform(action);
  }

  void OnCancel() override {
    request_.Cancel();
    Action action;
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->cancelled = true;
      action = NextLocked(*shared_);
    }
    Perform(action);
  }

  void OnDone() override { delete this; }  // gRPC's callback API contract

 private:
  enum class Kind { kNone, kWrite, kWriteAndFinish, kFinish };
  struct Action {
    Kind kind = Kind::kNone;
    grpc::Status status;
  };

  // What to do next; shared.mu held. Marks the write or the finish as
  // issued so no other thread issues one too.
  static Action NextLocked(Shared& s) {
    Action a;
    if (s.finished || s.write_in_flight) return a;
    if (s.cancelled) {
      s.finished = true;
      a.kind = Kind::kFinish;
      a.status = grpc::Status(grpc::StatusCode::CANCELLED,
                              "cancelled (by the client or its deadline)");
      return a;
    }
    if (s.pending.empty()) return a;
    s.current = std::move(s.pending.front());
    s.pending.pop_front();
    if (s.pending.empty() && s.final_queued) {
      s.finished = true;
      a.kind = Kind::kWriteAndFinish;
      a.status = s.final_status;
    } else {
      s.write_in_flight = true;
      a.kind = Kind::kWrite;
    }
    return a;
  }

  void Perform(const Action& a) {
    switch (a.kind) {
      case Kind::kNone:
        return;
      case Kind::kWrite:
        StartWrite(&shared_->current);
        return;
      case Kind::kWriteAndFinish:
        StartWriteAndFinish(&shared_->current, grpc::WriteOptions(), a.status);
        return;
      case Kind::kFinish:
        Finish(a.status);
        return;
    }
  }

  std::shared_ptr<Shared> shared_;
  EngineRequestHandle request_;
};

// Generate's reactor: the engine events fill the response; the final one
// finishes the call. OnCancel cancels the engine request and finishes at
// once; later events are dropped.
class UnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  struct Shared {
    std::mutex mu;
    bool finished = false;  // Finish issued
  };

  UnaryReactor(HeadroomService* service, grpc::CallbackServerContext* context,
               const v1::GenerateRequest* request,
               v1::GenerateResponse* response)
      : shared_(std::make_shared<Shared>()), request_(service) {
    auto sink = [this, shared = shared_, response](const EngineEvent& e) {
      std::unique_lock<std::mutex> lock(shared->mu);
      if (shared->finished) return;
      // `response` belongs to gRPC and lives until OnDone, which cannot
      // come before the Finish below.
      response->mutable_text()->append(e.text);
      for (int t : e.token_ids) response->add_token_ids(t);
      AddLogprobs(e, response->mutable_logprobs());
      if (!e.finished) return;
      response->set_finish_reason(ToProto(e.finish_reason));
      FillUsage(e.usage, response->mutable_usage());
      shared->finished = true;
      lock.unlock();
      Finish(e.finish_reason == FinishReason::kError
                 ? grpc::Status(grpc::StatusCode::INTERNAL,
                                "generation failed: " + e.error)
                 : grpc::Status::OK);
    };
    if (auto s = request_.Start(context, *request, std::move(sink)); !s.ok()) {
      shared_->finished = true;
      Finish(ToGrpc(s));
    }
  }

  void OnCancel() override {
    request_.Cancel();
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      if (shared_->finished) return;
      shared_->finished = true;
    }
    Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                        "cancelled (by the client or its deadline)"));
  }

  void OnDone() override { delete this; }  // gRPC's callback API contract

 private:
  std::shared_ptr<Shared> shared_;
  EngineRequestHandle request_;
};

}  // namespace

grpc::ServerUnaryReactor* HeadroomService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request,
    v1::GenerateResponse* response) {
  return new UnaryReactor(this, context, request, response);
}

grpc::ServerWriteReactor<v1::GenerateStreamResponse>*
HeadroomService::GenerateStream(grpc::CallbackServerContext* context,
                                const v1::GenerateRequest* request) {
  return new StreamReactor(this, context, request);
}

absl::StatusOr<PromptText> HeadroomService::TokenizePrompt(
    const v1::TokenizeRequest& r) const {
  const RequestLimits& limits = context_->engine->limits();
  if (r.messages_size() > 0) {
    if (!r.text().empty()) {
      return absl::InvalidArgumentError(
          "text, messages: give one of them, not both");
    }
    if (auto s = ValidateMessages(r.messages(), limits); !s.ok()) return s;
    return RenderMessages(r.messages(), AddGenerationPrompt(r),
                          &context_->chat_renderer, limits);
  }
  if (r.has_add_generation_prompt()) {
    return absl::InvalidArgumentError(
        "add_generation_prompt: applies to messages only");
  }
  if (auto s = CheckPromptBytes("text", static_cast<int64_t>(r.text().size()),
                                limits);
      !s.ok()) {
    return s;
  }
  if (!IsValidUtf8(r.text())) {
    return absl::InvalidArgumentError("text: is not valid UTF-8");
  }
  PromptText prompt;
  prompt.text = r.text();
  prompt.encode.add_special_tokens = r.add_bos();
  return prompt;
}

absl::StatusOr<std::vector<int>> HeadroomService::TokenizeText(
    int tenant, const std::string& text, bool add_bos) {
  v1::TokenizeRequest request;
  request.set_text(text);
  request.set_add_bos(add_bos);
  return TokenizeForTenant(tenant, request);
}

absl::StatusOr<std::vector<int>> HeadroomService::TokenizeForTenant(
    int tenant, const v1::TokenizeRequest& request) {
  ServingContext& ctx = *context_;
  const std::string& name = ctx.tenants->tenant(tenant).name;
  absl::StatusOr<PromptText> prompt = TokenizePrompt(request);
  if (!prompt.ok()) {
    Rejected(prompt.status(), name);
    return prompt.status();
  }
  // Counted like a request: it holds a concurrency slot while it runs, and
  // costs its tokens against tokens_per_minute. Bytes + 2 bounds the ids
  // (one byte-fallback id per byte, BOS, a dummy-prefix piece); what is not
  // used goes back to the bucket.
  RequestCost cost;
  cost.tokens = static_cast<int64_t>(prompt->text.size()) + 2;
  auto ticket = ctx.tenants->Admit(tenant, cost);
  if (!ticket.ok()) {
    Rejected(ticket.status(), name);
    return ticket.status();
  }
  std::vector<int> ids =
      ctx.tokenizer->EncodeWithOptions(prompt->text, prompt->encode);
  ctx.tenants->Release(*ticket, cost.tokens - static_cast<int64_t>(ids.size()));
  return ids;
}

grpc::ServerUnaryReactor* HeadroomService::Tokenize(
    grpc::CallbackServerContext* context, const v1::TokenizeRequest* request,
    v1::TokenizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto tenant = Authorize(context);
  if (!tenant.ok()) {
    Rejected(tenant.status(), "");
    reactor->Finish(ToGrpc(tenant.status()));
    return reactor;
  }
  auto ids = TokenizeForTenant(*tenant, *request);
  if (!ids.ok()) {
    reactor->Finish(ToGrpc(ids.status()));
    return reactor;
  }
  const runtime::Tokenizer& tok = *context_->tokenizer;
  int prev = tok.bos_id();
  for (int id : *ids) {
    response->add_token_ids(id);
    response->add_pieces(tok.DecodeToken(prev, id));
    prev = id;
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* HeadroomService::GetModelInfo(
    grpc::CallbackServerContext* context,
    const v1::GetModelInfoRequest* request, v1::ModelInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto tenant = Authorize(context);
  if (!tenant.ok()) {
    Rejected(tenant.status(), "");
    reactor->Finish(ToGrpc(tenant.status()));
    return reactor;
  }
  *response = context_->model_info;
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace headroom::server
