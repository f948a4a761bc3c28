#include "server/engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/tokenizers/detokenizer.h"

namespace headroom::server {

using Clock = std::chrono::steady_clock;

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength:
      return "LENGTH";
    case FinishReason::kEos:
      return "EOS";
    case FinishReason::kStopSequence:
      return "STOP_SEQUENCE";
    case FinishReason::kCancelled:
      return "CANCELLED";
    case FinishReason::kError:
      return "ERROR";
  }
  return "ERROR";
}

struct Engine::Sequence {
  int64_t id = 0;
  GenerateRequest request;
  EventCallback on_event;
  std::vector<int> tokens;  // prompt + generated
  int prompt_len = 0;
  BlockHash root{};       // of its hash chain (PrefixRootFor its salt)
  int num_computed = 0;   // tokens whose K/V are cached
  int cached_tokens = 0;  // found in the prefix cache at first admission
  bool running = false;   // holds pages (kv_ has its block table)
  std::unique_ptr<runtime::PenaltyState> penalties;
  std::unique_ptr<runtime::IncrementalDetokenizer> detokenizer;
  Clock::time_point submitted, first_scheduled, first_token;
  bool scheduled_once = false;

  int generated() const { return static_cast<int>(tokens.size()) - prompt_len; }
};

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    std::unique_ptr<runtime::Backend> backend,
    std::shared_ptr<const runtime::Tokenizer> tokenizer,
    const EngineOptions& options) {
  if (backend == nullptr || tokenizer == nullptr) {
    return absl::InvalidArgumentError("engine: backend and tokenizer needed");
  }
  if (options.max_num_batched_tokens <= 0 || options.max_num_seqs <= 0) {
    return absl::InvalidArgumentError(
        "engine: max_num_batched_tokens and max_num_seqs must be positive");
  }
  return std::make_unique<Engine>(std::move(backend), std::move(tokenizer),
                                  options);
}

Engine::Engine(std::unique_ptr<runtime::Backend> backend,
               std::shared_ptr<const runtime::Tokenizer> tokenizer,
               const EngineOptions& options)
    : backend_(std::move(backend)),
      tokenizer_(std::move(tokenizer)),
      config_(backend_->config()),
      options_(options),
      kv_(backend_->num_blocks(), backend_->block_size(),
          options.enable_prefix_caching) {
  limits_.vocab_size = config_.vocab_size;
  limits_.max_seq_len = config_.max_seq_len;
  limits_.block_size = backend_->block_size();
  limits_.num_blocks = backend_->num_blocks();
  limits_.max_prompt_bytes =
      options_.max_prompt_bytes > 0
          ? options_.max_prompt_bytes
          : DefaultMaxPromptBytes(*tokenizer_, config_.max_seq_len);
  stats_.total_blocks = backend_->num_blocks();
  stats_.free_blocks = backend_->num_blocks();
  stats_.block_size = backend_->block_size();
}

Engine::~Engine() { Stop(); }

BlockHash Engine::PrefixRootFor(const std::string& cache_salt) const {
  return PrefixRoot({options_.prefix_cache_layout_key, cache_salt});
}

absl::StatusOr<int64_t> Engine::Submit(GenerateRequest request,
                                       EventCallback on_event) {
  if (request.prompt.empty() && request.prompt_ids.empty()) {
    return absl::InvalidArgumentError("prompt is empty");
  }
  if (request.prompt_ids.empty()) {
    if (auto s = CheckPromptBytes(
            "prompt", static_cast<int64_t>(request.prompt.size()), limits_);
        !s.ok()) {
      return s;
    }
    request.prompt_ids = tokenizer_->Encode(request.prompt, true);
  }
  if (auto s = ValidateRequest(request, limits_); !s.ok()) return s;
  auto seq = std::make_unique<Sequence>();
  const std::vector<int>& ids = request.prompt_ids;
  const int n = static_cast<int>(ids.size());  // < max_seq_len (validated)
  seq->tokens = ids;
  seq->prompt_len = n;
  seq->penalties = std::make_unique<runtime::PenaltyState>(ids);
  seq->detokenizer = std::make_unique<runtime::IncrementalDetokenizer>(
      *tokenizer_, request.stop, ids.back());
  const BlockHash root = PrefixRootFor(request.cache_salt);
  seq->request = std::move(request);
  seq->on_event = std::move(on_event);
  seq->submitted = Clock::now();
  int64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_id_++;
    seq->id = id;
    seq->root = root;
    inbox_.push_back(std::move(seq));
    ++stats_.waiting;
    stats_.prompt_tokens += n;
  }
  wake_.notify_all();
  return id;
}

void Engine::Cancel(int64_t request_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancels_.push_back(request_id);
  }
  wake_.notify_all();
}

void Engine::CancelAll() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_all_ = true;
  }
  wake_.notify_all();
}

void Engine::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Engine::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Engine::HasWork() {
  std::lock_guard<std::mutex> lock(mu_);
  return !inbox_.empty() || !cancels_.empty() || cancel_all_ ||
         stats_.running > 0 || stats_.waiting > 0;
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Engine::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] {
        return stop_ || !inbox_.empty() || !cancels_.empty() || cancel_all_ ||
               stats_.running > 0 || stats_.waiting > 0;
      });
      if (stop_) return;
    }
    // A failed forward step fails the requests in it (Step does that and
    // counts it); the engine keeps serving the next ones.
    Step().IgnoreError();
  }
}

void Engine::DrainInbox() {
  std::vector<std::unique_ptr<Sequence>> arrived;
  std::vector<int64_t> cancels;
  bool cancel_all = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    arrived.swap(inbox_);
    cancels.swap(cancels_);
    std::swap(cancel_all, cancel_all_);
  }
  for (auto& s : arrived) {
    kv_.AddRequest(s->id, s->root);
    sequences_[s->id] = std::move(s);
  }
  if (cancel_all) {
    for (const auto& [id, s] : sequences_) cancels.push_back(id);
  }
  for (int64_t id : cancels) {
    auto it = sequences_.find(id);
    if (it != sequences_.end()) {
      Finish(*it->second, FinishReason::kCancelled, "", {});
    }
  }
}

void Engine::Finish(Sequence& s, FinishReason reason, const std::string& error,
                    EngineEvent e) {
  e.request_id = s.id;
  e.finished = true;
  e.finish_reason = reason;
  e.error = error;
  if (reason != FinishReason::kCancelled && reason != FinishReason::kError) {
    e.text += s.detokenizer->Finish();
  }
  e.usage.prompt_tokens = s.prompt_len;
  e.usage.completion_tokens = s.generated();
  e.usage.cached_tokens = s.cached_tokens;
  e.usage.scheduled = s.scheduled_once;
  if (s.scheduled_once) {
    e.usage.queue_seconds =
        std::chrono::duration<double>(s.first_scheduled - s.submitted).count();
  }
  if (s.generated() > 0) {
    e.usage.time_to_first_token =
        std::chrono::duration<double>(s.first_token - s.submitted).count();
  }
  // Its full pages stay cached (evictable) for the next request.
  const bool released = kv_.RemoveRequest(s.id).ok();
  const int64_t id = s.id;
  EventCallback cb = std::move(s.on_event);
  sequences_.erase(id);  // `s` is gone from here on
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.finished_requests;
    if (!released) ++stats_.kv_release_errors;
  }
  if (cb) cb(e);
}

void Engine::SampleAndEmit(Sequence& s, const float* logits) {
  const GenerateRequest& r = s.request;
  absl::Span<const float> row = absl::MakeConstSpan(logits, config_.vocab_size);
  std::vector<float> masked;
  if (s.generated() < r.min_tokens) {
    // min_tokens: EOS and the stop token ids cannot be drawn yet.
    masked.assign(row.begin(), row.end());
    if (!r.ignore_eos) masked[tokenizer_->eos_id()] = -INFINITY;
    for (int t : r.stop_token_ids) masked[t] = -INFINITY;
    row = masked;
  }
  // The draw index is the output position, so a sequence draws the same
  // numbers whatever shares its batch and after a preemption.
  const runtime::SampledToken st = runtime::SampleToken(
      row, r.sampling, *s.penalties, static_cast<uint64_t>(s.generated()));
  const int token = st.token;
  if (s.generated() == 0) s.first_token = Clock::now();
  s.tokens.push_back(token);
  s.penalties->AddOutputToken(token);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.generated_tokens;
  }

  EngineEvent e;
  e.request_id = s.id;
  e.token_ids.push_back(token);
  if (r.sampling.logprobs > 0) e.logprobs.push_back(st);
  bool finished = true;
  FinishReason reason = FinishReason::kLength;
  if (token == tokenizer_->eos_id() && !r.ignore_eos) {
    reason = FinishReason::kEos;  // EOS contributes no text
  } else if (std::find(r.stop_token_ids.begin(), r.stop_token_ids.end(),
                       token) != r.stop_token_ids.end()) {
    reason = FinishReason::kStopSequence;
  } else {
    e.text = s.detokenizer->Push(token);
    if (s.detokenizer->stopped()) {
      reason = FinishReason::kStopSequence;
    } else if (s.generated() >= r.max_tokens ||
               static_cast<int>(s.tokens.size()) >= config_.max_seq_len) {
      reason = FinishReason::kLength;
    } else {
      finished = false;
    }
  }
  if (finished) {
    Finish(s, reason, "", std::move(e));  // the last token rides along
  } else if (s.on_event) {
    s.on_event(e);
  }
}

absl::Status Engine::Step() {
  const Clock::time_point t0 = Clock::now();
  DrainInbox();
  const int bs = backend_->block_size();
  std::vector<SequenceView> views;
  views.reserve(sequences_.size());
  std::map<int64_t, PrefixHit> hits;  // waiting sequences' cached prefixes
  for (auto& [id, s] : sequences_) {
    PrefixHit hit;
    views.push_back(ViewOf(*s, &hit));
    if (!s->running) hits[id] = std::move(hit);
  }
  SchedulerLimits limits;
  limits.max_num_batched_tokens = options_.max_num_batched_tokens;
  limits.max_num_seqs = options_.max_num_seqs;
  limits.admission_reserve = options_.admission_reserve;
  limits.block_size = bs;
  const ScheduleResult plan =
      Schedule(views, kv_.pool().num_free(), limits, options_.reorder_waiting);

  for (int64_t id : plan.preempted) {
    Sequence& s = *sequences_.at(id);
    ReleasePages(s);     // its full pages stay cached for its return
    s.num_computed = 0;  // recompute (or find) prompt + output later
    s.running = false;
  }
  if (auto st = TakePages(plan, hits); !st.ok()) return st;

  runtime::Batch batch;
  std::vector<Sequence*> in_batch;
  for (const ScheduledChunk& c : plan.scheduled) {
    Sequence& s = *sequences_.at(c.id);
    const int seq_index = static_cast<int>(batch.block_tables.size());
    batch.block_tables.push_back(kv_.blocks(s.id));
    const bool last =
        s.num_computed + c.num_tokens == static_cast<int>(s.tokens.size());
    batch.AddTokens(seq_index, s.tokens.data() + s.num_computed, c.num_tokens,
                    s.num_computed, /*logits_for_last=*/last);
    in_batch.push_back(&s);
  }

  const Clock::time_point t1 = Clock::now();
  absl::Status status = absl::OkStatus();
  Clock::time_point t2 = t1;
  if (!in_batch.empty()) {
    std::vector<float> logits;
    status = backend_->Forward(batch, &logits);
    t2 = Clock::now();
    int row = 0;
    for (size_t k = 0; k < in_batch.size(); ++k) {
      Sequence& s = *in_batch[k];
      if (!status.ok()) {
        Finish(s, FinishReason::kError, std::string(status.message()), {});
        continue;
      }
      const ScheduledChunk& c = plan.scheduled[k];
      s.num_computed += c.num_tokens;
      kv_.CacheComputedPages(s.id, s.tokens, s.num_computed);
      if (s.num_computed == static_cast<int>(s.tokens.size())) {
        SampleAndEmit(s, logits.data() + int64_t{row} * config_.vocab_size);
        ++row;
      }
    }
  }
  const Clock::time_point t3 = Clock::now();
  if (!in_batch.empty()) NoteStepResult(status);
  if (options_.on_step && !in_batch.empty()) {
    int tokens = 0;
    for (const ScheduledChunk& c : plan.scheduled) tokens += c.num_tokens;
    options_.on_step(tokens);
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.steps;
  stats_.schedule_seconds += std::chrono::duration<double>(t1 - t0).count();
  stats_.forward_seconds += std::chrono::duration<double>(t2 - t1).count();
  stats_.sample_seconds += std::chrono::duration<double>(t3 - t2).count();
  stats_.preemptions += static_cast<int64_t>(plan.preempted.size());
  int running = 0, waiting = 0;
  for (auto& [id, s] : sequences_) (s->running ? running : waiting) += 1;
  stats_.running = running;
  stats_.waiting = waiting + static_cast<int>(inbox_.size());
  stats_.free_blocks = kv_.pool().num_free();
  stats_.cached_blocks = kv_.pool().num_cached();
  stats_.evictable_blocks = kv_.pool().num_evictable();
  if (!status.ok()) ++stats_.failed_steps;
  return status;
}

SequenceView Engine::ViewOf(Sequence& s, PrefixHit* hit) {
  SequenceView v;
  v.id = s.id;
  v.priority = s.request.priority;
  v.arrival = s.id;
  v.tenant = s.request.tenant;
  v.num_tokens = static_cast<int>(s.tokens.size());
  v.running = s.running;
  if (s.running) {
    v.num_computed = s.num_computed;
    v.num_blocks = static_cast<int>(kv_.blocks(s.id).size());
    v.num_shared_blocks = v.num_blocks - kv_.ExclusiveBlocks(s.id);
  } else {
    *hit = kv_.FindCachedPrefix(s.id, s.tokens);
    v.num_computed = hit->num_tokens;
    v.num_blocks = static_cast<int>(hit->blocks.size());
    v.num_evictable_hits = hit->num_evictable;
  }
  v.next_page_key = kv_.NextPageKey(s.id, s.tokens, v.num_computed);
  return v;
}

void Engine::ReleasePages(Sequence& s) {
  if (kv_.ReleaseAll(s.id).ok()) return;
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.kv_release_errors;
}

absl::Status Engine::TakePages(const ScheduleResult& plan,
                               std::map<int64_t, PrefixHit>& hits) {
  int64_t queried = 0, found = 0;
  for (const ScheduledChunk& c : plan.scheduled) {
    Sequence& s = *sequences_.at(c.id);
    if (s.running) continue;
    const PrefixHit& hit = hits[c.id];
    kv_.TakeCachedPrefix(s.id, hit);
    s.num_computed = hit.num_tokens;
    s.running = true;
    if (!s.scheduled_once) {
      s.scheduled_once = true;
      s.first_scheduled = Clock::now();
      s.cached_tokens = hit.num_tokens;
      queried += s.prompt_len;
      found += hit.num_tokens;
    }
  }
  if (queried > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.prefix_cache_queries += queried;
    stats_.prefix_cache_hits += found;
  }
  for (const ScheduledChunk& c : plan.scheduled) {
    // The scheduler counted the free pages: a failure is a bookkeeping bug.
    if (auto st = kv_.Allocate(c.id, c.new_blocks); !st.ok()) return st;
  }
  return absl::OkStatus();
}

void Engine::NoteStepResult(const absl::Status& status) {
  consecutive_failures_ = status.ok() ? 0 : consecutive_failures_ + 1;
  const bool healthy =
      consecutive_failures_ < options_.max_consecutive_step_failures;
  if (healthy == healthy_) return;
  healthy_ = healthy;
  if (options_.on_health) options_.on_health(healthy, status);
}

}  // namespace headroom::server
