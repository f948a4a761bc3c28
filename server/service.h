// HeadroomService: the headroom.v1.Headroom gRPC service on the callback API.
//
// Each call: UNAVAILABLE unless serving -> authenticate the tenant (Bearer
// key) -> validate every field (INVALID_ARGUMENT naming it) -> tokenize ->
// tenant quotas (RESOURCE_EXHAUSTED naming the quota) -> engine Submit.
// GenerateStream has one ServerWriteReactor per call with at most one write
// in flight; engine events queue behind it. OnCancel (client cancel or a
// passed deadline) cancels the engine request, which frees its pages at the
// engine's next step.
//
// Lifecycle: constructed before the model loads (every call UNAVAILABLE),
// Activate() once the engine runs, BeginDrain() on SIGTERM (new calls
// UNAVAILABLE, calls in flight go on), WaitIdle() until they are done.
#ifndef HEADROOM_SERVER_SERVICE_H_
#define HEADROOM_SERVER_SERVICE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "headroom/v1/headroom.grpc.pb.h"
#include "server/chat_renderer.h"
#include "server/engine/engine.h"
#include "server/fair_share.h"
#include "server/model_setup.h"
#include "server/request_validation.h"
#include "server/server_metrics.h"
#include "server/tenants.h"

namespace headroom::server {

// Everything a serving call needs; owned by the service once activated.
struct ServingContext {
  // The engine thread calls into fair_share (its hook) and, through the
  // requests' callbacks, into tenants: it stops before they go.
  ~ServingContext() {
    if (engine != nullptr) engine->Stop();
  }
  std::unique_ptr<Engine> engine;
  std::shared_ptr<const runtime::Tokenizer> tokenizer;
  std::unique_ptr<TenantRegistry> tenants;
  std::unique_ptr<FairShare> fair_share;
  v1::ModelInfo model_info;
  // Renders `messages` (chat_renderer.h); null: the model has no template.
  ChatRenderer chat_renderer;
};

class HeadroomService final : public v1::Headroom::CallbackService {
 public:
  explicit HeadroomService(ServerMetrics* metrics);
  ~HeadroomService() override;

  // Serving from now on. Call once.
  void Activate(std::unique_ptr<ServingContext> context);
  // New calls get UNAVAILABLE from now on.
  void BeginDrain();
  // Waits until no request is in flight and every gRPC call has ended
  // (its last message handed to gRPC), or `deadline` passes; true if idle.
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);
  // Requests the engine still runs.
  int in_flight() const;
  // gRPC calls not yet done: a stream may still be writing to a slow
  // reader after its request left the engine.
  int open_calls() const;
  // A Generate or GenerateStream reactor's life, creation to OnDone.
  void ReactorOpened();
  void ReactorDone();
  bool serving() const { return state_.load() == State::kServing; }
  // Engine of an active service (null before Activate).
  Engine* engine() const;
  const TenantRegistry* tenants() const;

  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* context,
                                     const v1::GenerateRequest* request,
                                     v1::GenerateResponse* response) override;
  grpc::ServerWriteReactor<v1::GenerateStreamResponse>* GenerateStream(
      grpc::CallbackServerContext* context,
      const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;

  // A request admitted and submitted (used by the reactors and the
  // OpenAI front end).
  class Call;
  // How a front end's call differs: its `api` label in the metrics, and the
  // max_tokens a request without one gets (0: the rest of the context).
  struct CallOptions {
    const char* api = "grpc";
    int default_max_tokens = kDefaultMaxTokens;
  };
  // Validates, tokenizes, admits and submits; `sink` gets every engine
  // event on the engine thread. Errors are the call's final status.
  absl::StatusOr<std::shared_ptr<Call>> StartCall(
      grpc::CallbackServerContext* context, const v1::GenerateRequest& request,
      std::function<void(const EngineEvent&)> sink);
  // The same for a tenant that AuthorizeKey returned.
  absl::StatusOr<std::shared_ptr<Call>> StartCall(
      int tenant, const v1::GenerateRequest& request,
      std::function<void(const EngineEvent&)> sink, const CallOptions& options);
  // Cancels a started call's engine request (its pages are freed at the
  // engine's next step); the final event still comes, as kCancelled.
  void CancelCall(const Call& call);

  // UNAVAILABLE unless serving, else the tenant whose key `authorization`
  // ("Bearer KEY", "" for none) carries (UNAUTHENTICATED). Counts the
  // rejection in the metrics.
  absl::StatusOr<int> AuthorizeKey(const std::string& authorization);
  // Tokenize for an authorized tenant: the text's checks (size, UTF-8) and
  // its quotas around the encoding.
  absl::StatusOr<std::vector<int>> TokenizeText(int tenant,
                                                const std::string& text,
                                                bool add_bos);
  // Whether `messages` can be rendered (the model has a chat template).
  bool has_chat_template() const {
    return static_cast<bool>(context_->chat_renderer);
  }
  // The served model (after Activate).
  const v1::ModelInfo& model_info() const { return context_->model_info; }
  const runtime::Tokenizer& tokenizer() const { return *context_->tokenizer; }
  ServerMetrics* metrics() const { return metrics_; }

 private:
  enum class State { kLoading, kServing, kDraining };

  // UNAVAILABLE unless serving, else the tenant index (UNAUTHENTICATED).
  absl::StatusOr<int> Authorize(grpc::CallbackServerContext* context);
  void Rejected(const absl::Status& status, const std::string& tenant);
  // Tokenize's work for an authorized tenant: the request's checks (text or
  // messages), then the tenant's quotas around the encoding.
  absl::StatusOr<std::vector<int>> TokenizeForTenant(
      int tenant, const v1::TokenizeRequest& request);
  // The text a TokenizeRequest asks for (its checks, or its messages
  // rendered), InvalidArgument naming the field.
  absl::StatusOr<PromptText> TokenizePrompt(
      const v1::TokenizeRequest& request) const;
  void CallEnded();

  ServerMetrics* metrics_;
  std::atomic<State> state_{State::kLoading};
  std::unique_ptr<ServingContext> context_;  // set once by Activate
  std::atomic<bool> active_{false};          // context_ is set (stays set)

  mutable std::mutex mu_;  // guards in_flight_, open_calls_
  std::condition_variable idle_;
  int in_flight_ = 0;
  int open_calls_ = 0;
};

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_SERVICE_H_
