// Engine: continuous batching over one Backend. Requests go in with Submit
// (validated before anything is queued), events come back through each
// request's callback, Cancel stops a request and frees its pages at once.
// One engine thread runs the steps; Submit and Cancel are thread-safe.
//
//   auto engine = Engine::Create(std::move(backend), tokenizer, {});
//   engine->Start();
//   auto id = engine->Submit(request, [](const EngineEvent& e) { ... });
//
// Tests may instead call Step() themselves without Start().
#ifndef HEADROOM_SERVER_ENGINE_ENGINE_H_
#define HEADROOM_SERVER_ENGINE_ENGINE_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/backend.h"
#include "runtime/tokenizers/tokenizer.h"
#include "server/engine/block_hash.h"
#include "server/engine/kv_cache_manager.h"
#include "server/engine/request.h"
#include "server/engine/request_limits.h"
#include "server/engine/scheduler.h"

namespace headroom::server {

struct EngineOptions {
  int max_num_batched_tokens = 256;  // tokens per step, all sequences
  int max_num_seqs = 64;             // sequences per step
  // Admit waiting requests only while one free page per sequence in the
  // batch remains (fewer preemptions under overload; scheduler.h).
  bool admission_reserve = true;
  WaitingOrderHook reorder_waiting;  // fairness between tenants (optional)
  // Called on the engine thread after each step that ran a forward pass,
  // with the tokens it computed (prefill chunks + decodes), e.g. for an
  // iteration-tokens histogram. Must not block or call into the engine.
  std::function<void(int num_tokens)> on_step;
  // Prompt and Tokenize text longer than this is refused before it is
  // tokenized; 0 = DefaultMaxPromptBytes (request_limits.h).
  int64_t max_prompt_bytes = 0;
  // After this many forward steps in a row fail, the engine reports itself
  // unhealthy through on_health (a sticky device error fails every batch);
  // the next step that succeeds reports it healthy again.
  int max_consecutive_step_failures = 3;
  // Called on the engine thread when the engine turns unhealthy (false,
  // with the last step's error) or healthy again (true, OK). Must not block
  // or call into the engine.
  std::function<void(bool healthy, const absl::Status& last_error)> on_health;
  // Prefix caching (kv_cache_manager.h): a prompt starting with pages
  // another request computed (same tokens, same cache salt) shares them.
  bool enable_prefix_caching = true;
  // The served layout (model digest, projections digest): a hash chain's
  // extra key, so a cache never serves pages of another layout.
  std::string prefix_cache_layout_key;
};

struct EngineStats {
  int64_t steps = 0;
  int64_t preemptions = 0;
  int64_t prompt_tokens = 0;  // admitted prompts
  int64_t generated_tokens = 0;
  int64_t finished_requests = 0;
  int64_t failed_steps = 0;  // forward steps whose requests all failed
  int running = 0;           // sequences holding pages
  int waiting = 0;           // queued, holding none
  int free_blocks = 0;
  int total_blocks = 0;
  int block_size = 0;
  // Prefix caching: pages carrying a hash, the free ones of them (evicted
  // first-released-first when pages run out), and admitted prompts'
  // tokens looked up / found cached (first admission only).
  int cached_blocks = 0;
  int evictable_blocks = 0;
  int64_t prefix_cache_queries = 0;
  int64_t prefix_cache_hits = 0;
  // Pages released but not held (a bookkeeping bug: tests expect 0).
  int64_t kv_release_errors = 0;
  // Where the steps' time went (seconds, cumulative): choosing the batch
  // and pages, the backend's forward pass, sampling and detokenizing.
  double schedule_seconds = 0.0;
  double forward_seconds = 0.0;
  double sample_seconds = 0.0;
};

class Engine {
 public:
  // Checks the options; use this rather than the constructor.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      std::unique_ptr<runtime::Backend> backend,
      std::shared_ptr<const runtime::Tokenizer> tokenizer,
      const EngineOptions& options);
  Engine(std::unique_ptr<runtime::Backend> backend,
         std::shared_ptr<const runtime::Tokenizer> tokenizer,
         const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Checks the prompt's bytes, tokenizes it unless prompt_ids are set, and
  // checks every field (ValidateRequest: InvalidArgument naming it;
  // ResourceExhausted when the request could never fit the page pool),
  // then queues the request.
  absl::StatusOr<int64_t> Submit(GenerateRequest request,
                                 EventCallback on_event);
  // Finishes the request with kCancelled and frees its pages at the next
  // step; unknown or finished ids are ignored.
  void Cancel(int64_t request_id);
  // Cancels every request queued or running now (a drain's deadline).
  void CancelAll();

  // The engine thread: runs steps while there is work.
  void Start();
  // Stops the thread; queued and running requests stay as they are.
  void Stop();
  // One iteration (schedule, forward, sample, emit). Only without Start().
  absl::Status Step();
  // True while any request is queued or running.
  bool HasWork();

  EngineStats stats() const;
  const runtime::ModelConfig& model_config() const { return config_; }
  // What a request is checked against (fixed at construction).
  const RequestLimits& limits() const { return limits_; }
  const runtime::Tokenizer& tokenizer() const { return *tokenizer_; }
  // The hash chain's root for requests with this cache salt
  // (GenerateRequest::cache_salt): the salt and the layout key.
  BlockHash PrefixRootFor(const std::string& cache_salt) const;
  bool prefix_caching() const { return options_.enable_prefix_caching; }

 private:
  struct Sequence;

  void Loop();
  void DrainInbox();
  // Emits the final event (`last` may carry the last token), frees the
  // pages and forgets the sequence.
  void Finish(Sequence& s, FinishReason reason, const std::string& error,
              EngineEvent last);
  void SampleAndEmit(Sequence& s, const float* logits);
  // The scheduler's view of `s`; a waiting one's cached prefix in `hit`.
  SequenceView ViewOf(Sequence& s, PrefixHit* hit);
  // Releases every page of `s` (preemption), counting bookkeeping errors.
  void ReleasePages(Sequence& s);
  // Takes the pages the plan gives each scheduled sequence: first every
  // admitted one's cached prefix (so no allocation evicts it), then the
  // new pages.
  absl::Status TakePages(const ScheduleResult& plan,
                         std::map<int64_t, PrefixHit>& hits);
  // Counts consecutive failed steps and reports health transitions.
  void NoteStepResult(const absl::Status& status);

  std::unique_ptr<runtime::Backend> backend_;
  std::shared_ptr<const runtime::Tokenizer> tokenizer_;
  const runtime::ModelConfig config_;
  EngineOptions options_;
  RequestLimits limits_;
  int consecutive_failures_ = 0;  // engine thread
  bool healthy_ = true;           // engine thread

  // Engine-thread state.
  KvCacheManager kv_;
  std::map<int64_t, std::unique_ptr<Sequence>> sequences_;  // by id

  mutable std::mutex mu_;  // guards the fields below
  std::condition_variable wake_;
  std::vector<std::unique_ptr<Sequence>> inbox_;
  std::vector<int64_t> cancels_;
  int64_t next_id_ = 1;
  bool stop_ = false;
  bool cancel_all_ = false;
  EngineStats stats_;
  std::thread thread_;
};

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_ENGINE_ENGINE_H_
