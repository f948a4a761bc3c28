// headroom-server: serves a model over gRPC (headroom.v1.Headroom, the
// standard health service and server reflection) with Prometheus metrics.
//
//   headroom-server --config deploy/config/default.yaml [--listen ADDR] ...
//
// Start-up: parse the config (any error: one line, exit 2; --check-config
// stops after this step with "config OK", exit 0), listen on the
// gRPC and metrics ports (health NOT_SERVING; a port in use: one line, exit
// 1), load and compress the model (an error: one line, exit 1), size the KV
// pool from the memory budget and the served layout, start the engine, then
// SERVING. SIGTERM / SIGINT: stop accepting, let in-flight work finish
// within drain_deadline_seconds, cancel what is left, exit 0.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "runtime/backend.h"
#include "runtime/backend_factory.h"
#include "server/chat_renderer.h"
#include "server/config.h"
#include "server/engine/block_pool.h"
#include "server/http/http_server.h"
#include "server/metrics_http.h"
#include "server/model_setup.h"
#include "server/openai/handlers.h"
#include "server/server_metrics.h"
#include "server/service.h"

namespace headroom::server {
namespace {

using Clock = std::chrono::steady_clock;

void Log(const std::string& line) {
  std::cerr << "headroom-server: " << line << std::endl;
}

int g_signal_pipe[2] = {-1, -1};

void OnSignal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &byte, 1);
}

// gRPC's own log lines: errors only, with our prefix; none while the ports
// are bound (a failure there gets one line of ours instead).
std::atomic<bool> g_quiet_grpc{false};

void GrpcLog(gpr_log_func_args* args) {
  if (g_quiet_grpc.load() || args->severity != GPR_LOG_SEVERITY_ERROR) return;
  std::cerr << "headroom-server: grpc: " << args->message << std::endl;
}

// Set by the signal thread; waited on by main.
struct StopSignal {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  int signal = 0;

  void Wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return stop; });
  }
  // True when stopped within `timeout`.
  bool WaitFor(std::chrono::duration<double> timeout) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] { return stop; });
  }
  bool stopped() {
    std::lock_guard<std::mutex> lock(mu);
    return stop;
  }
};

v1::ModelInfo MakeModelInfo(const ServedModel& m, int block_size,
                            int num_blocks, int64_t budget,
                            int64_t original_pool_tokens) {
  const runtime::ModelConfig& c = m.weights.config;
  v1::ModelInfo info;
  info.set_architecture("llama");
  info.set_model_path(m.model_path);
  info.set_model_digest(m.model_digest);
  info.set_n_layers(c.n_layers);
  info.set_dim(c.dim);
  info.set_n_heads(c.n_heads);
  info.set_head_dim(c.head_dim);
  info.set_vocab_size(c.vocab_size);
  info.set_context_length(c.max_seq_len);
  info.set_compression_method(m.method);
  for (const ServedLayer& l : m.layers) {
    v1::LayerInfo* li = info.add_layers();
    li->set_kv_heads_original(l.kv_heads_original);
    li->set_kv_heads_served(l.kv_heads_served);
    li->set_key_energy_kept(l.key_energy);
    li->set_value_energy_kept(l.value_energy);
    li->set_method(l.method);
    for (int head : l.kv_order) li->add_kv_order(head);
  }
  info.set_compression_decision(m.compression_decision);
  info.set_kv_bytes_per_token_original(m.kv_bytes_per_token_original);
  info.set_kv_bytes_per_token_served(m.kv_bytes_per_token_served);
  info.set_compression_ratio(
      m.kv_bytes_per_token_served > 0
          ? static_cast<double>(m.kv_bytes_per_token_original) /
                static_cast<double>(m.kv_bytes_per_token_served)
          : 1.0);
  info.set_block_size(block_size);
  info.set_num_blocks(num_blocks);
  info.set_kv_cache_memory_bytes(budget);
  info.set_pool_capacity_tokens_original(original_pool_tokens);
  info.set_pool_capacity_tokens_served(int64_t{num_blocks} * block_size);
  return info;
}

// The model's id in the OpenAI API: http.model_name, else the model path's
// last component without a .bin extension.
std::string ServedModelName(const ServerConfig& config) {
  if (!config.http.model_name.empty()) return config.http.model_name;
  std::filesystem::path p(config.model.path);
  if (!p.has_filename()) p = p.parent_path();  // a trailing slash
  std::string name = p.filename().string();
  if (p.extension() == ".bin") name = p.stem().string();
  return name.empty() ? "model" : name;
}

// Each HTTP connection is a descriptor: raise the soft limit to the hard
// one so that http.max_connections can be reached.
void RaiseFileLimit() {
  struct rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

int Run(int argc, char** argv) {
  auto flags = ParseServerFlags(argc, argv);
  if (!flags.ok()) {
    Log(std::string(flags.status().message()));
    return 2;
  }
  if (flags->values.count("help") > 0) {
    std::cout << ServerFlagsHelp();
    return 0;
  }
  absl::StatusOr<ServerConfig> config =
      flags->config_path.empty() ? ParseServerConfig("", "(defaults)")
                                 : LoadServerConfigFile(flags->config_path);
  if (!config.ok()) {
    Log(std::string(config.status().message()));
    return 2;
  }
  if (auto s = ApplyServerFlags(*flags, &*config); !s.ok()) {
    Log(absl::StrCat(
        flags->config_path.empty() ? "" : flags->config_path + ": ",
        s.message()));
    return 2;
  }

  if (auto s = LoadChatTemplate(&*config); !s.ok()) {
    Log(std::string(s.message()));
    return 2;
  }
  if (flags->values.count("check-config") > 0) {
    std::cout << "config OK" << std::endl;
    return 0;
  }
  if (auto s = CheckModelPath(config->model); !s.ok()) {
    Log(std::string(s.message()));
    return 1;
  }
  // Validated with the config: cpu or cuda. cuda without the module or a
  // GPU stops here, in one line, before anything listens.
  const runtime::Device device = *runtime::ParseDevice(config->device);
  if (auto s = runtime::CheckDeviceAvailable(device); !s.ok()) {
    Log(std::string(s.message()));
    return 1;
  }

  // SIGTERM / SIGINT: the handler only writes to a pipe (async-signal-safe;
  // libraries such as OpenBLAS start threads before main, so the signal may
  // land on any thread); a watcher thread turns that into `stop`.
  // Static: the detached watcher thread may touch it until the process
  // ends, after Run returns.
  static StopSignal stop;
  if (::pipe(g_signal_pipe) != 0) {
    Log("cannot create the signal pipe");
    return 1;
  }
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread([] {
    unsigned char sig = 0;
    while (::read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
    }
    // Notified under the lock: main cannot run on (and return) before this
    // thread is done with `stop`.
    std::lock_guard<std::mutex> lock(stop.mu);
    stop.stop = true;
    stop.signal = sig;
    stop.cv.notify_all();
  }).detach();  // blocked in read until a signal or the process ends

  MetricsRegistry registry;
  ServerMetrics metrics(registry);
  HeadroomService service(&metrics);
  std::atomic<bool> ready{false};          // loaded and not draining
  std::atomic<bool> engine_healthy{true};  // forward steps succeed

  std::unique_ptr<MetricsHttpServer> http;
  if (!config->metrics_listen.empty()) {
    auto h = MetricsHttpServer::Start(
        config->metrics_listen, &registry,
        [&ready, &engine_healthy] { return ready && engine_healthy; });
    if (!h.ok()) {
      Log(std::string(h.status().message()));
      return 1;
    }
    http = std::move(*h);
  }
  // The OpenAI-compatible API: its own listener (metrics stay internal),
  // UNAVAILABLE (503) until the model is loaded, like gRPC.
  RaiseFileLimit();
  openai::OpenAiOptions openai_options;
  openai_options.model_name = ServedModelName(*config);
  openai_options.created = static_cast<int64_t>(std::time(nullptr));
  openai::OpenAiApi openai_api(&service, openai_options);
  std::unique_ptr<http::HttpServer> openai_http;
  if (!config->http.listen.empty()) {
    http::HttpServerOptions options;
    options.name = "the OpenAI API";
    options.limits.body_bytes =
        static_cast<size_t>(config->http.max_body_bytes);
    options.max_connections = config->http.max_connections;
    options.io_threads = 2;
    auto h = http::HttpServer::Start(config->http.listen, openai_api.Routes(),
                                     options);
    if (!h.ok()) {
      Log(std::string(h.status().message()));
      return 1;
    }
    openai_http = std::move(*h);
  }
  gpr_set_log_function(GrpcLog);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // Without this, gRPC sets SO_REUSEPORT and a second server on the same
  // port would start and share it instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  builder.AddListeningPort(config->listen, grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  g_quiet_grpc.store(true);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  g_quiet_grpc.store(false);
  if (server == nullptr || port == 0) {
    Log(absl::StrCat("cannot listen on ", config->listen,
                     " (port in use or address invalid)"));
    return 1;
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus(false);  // until the model is loaded
  Log(absl::StrCat("grpc listening on ", HostOf(config->listen), ":", port));
  if (http != nullptr) {
    Log(absl::StrCat("metrics listening on http://",
                     HostOf(config->metrics_listen), ":", http->port(),
                     "/metrics"));
  }
  if (openai_http != nullptr) {
    Log(absl::StrCat("openai listening on http://", HostOf(config->http.listen),
                     ":", openai_http->port(), "/v1 (model \"",
                     openai_options.model_name, "\")"));
  }

  auto served = LoadServedModel(*config, Log);
  if (!served.ok()) {
    Log(std::string(served.status().message()));
    server->Shutdown();
    return 1;
  }
  // The pool: the memory budget over the bytes of one page of the served
  // (compressed) layout; the original layout's capacity for comparison.
  const int block_size = config->engine.block_size;
  const int64_t budget = config->engine.kv_cache_memory_bytes;
  const int64_t served_block_bytes =
      runtime::KvBytesPerBlock(served->weights.config, block_size, device);
  runtime::ModelConfig original_config = served->weights.config;
  original_config.cache_kv_heads.clear();
  const int64_t original_pool_tokens =
      int64_t{BlockPool::BlocksForBudget(
          budget,
          runtime::KvBytesPerBlock(original_config, block_size, device))} *
      block_size;
  const int num_blocks = BlockPool::BlocksForBudget(budget, served_block_bytes);
  if (num_blocks < 1) {
    Log(absl::StrCat("engine.kv_cache_memory_bytes: ", budget,
                     " bytes hold no KV page (", served_block_bytes,
                     " bytes each)"));
    server->Shutdown();
    return 1;
  }
  v1::ModelInfo model_info = MakeModelInfo(*served, block_size, num_blocks,
                                           budget, original_pool_tokens);
  metrics.SetModel(*served, block_size, num_blocks, budget,
                   original_pool_tokens);

  auto context = std::make_unique<ServingContext>();
  context->tokenizer = served->tokenizer;
  context->model_info = std::move(model_info);
  // The chat template (server/chat_renderer.h).
  auto chat_renderer =
      MakeChatRenderer(config->http.chat_template_text, config->model.path);
  if (!chat_renderer.ok()) {
    Log(absl::StrCat("error: ", chat_renderer.status().message()));
    return 1;
  }
  if (*chat_renderer != nullptr && config->http.chat_template.empty()) {
    Log("chat template from the model's tokenizer_config.json");
  }
  context->chat_renderer = *std::move(chat_renderer);
  if (!config->http.chat_template.empty()) {
    Log(absl::StrCat("chat template ", config->http.chat_template, " (",
                     config->http.chat_template_text.size(), " bytes)"));
  }
  std::map<std::string, double> weights;
  for (const TenantConfig& t : config->tenants) weights[t.name] = t.weight;
  context->fair_share = std::make_unique<FairShare>(weights);
  context->tenants = std::make_unique<TenantRegistry>(
      config->tenants, config->allow_anonymous, num_blocks);
  runtime::BackendOptions backend_options;
  backend_options.block_size = block_size;
  backend_options.num_blocks = num_blocks;
  backend_options.num_threads = config->engine.threads;
  backend_options.dtype =
      *runtime::ParseLowPrecision(config->dtype);  // validated with it
  backend_options.device_id = config->device_id;
  const std::string method = served->method;
  auto backend = runtime::CreateBackend(device, std::move(served->weights),
                                        backend_options);
  if (!backend.ok()) {
    Log(absl::StrCat("backend: ", backend.status().message()));
    server->Shutdown();
    return 1;
  }
  EngineOptions engine_options;
  engine_options.max_num_batched_tokens = config->engine.max_num_batched_tokens;
  engine_options.max_num_seqs = config->engine.max_num_seqs;
  engine_options.admission_reserve = config->engine.admission_reserve;
  engine_options.max_prompt_bytes = config->engine.max_prompt_bytes;
  engine_options.enable_prefix_caching = config->engine.enable_prefix_caching;
  engine_options.prefix_cache_layout_key =
      absl::StrCat("model ", served->model_digest, " projections ",
                   served->projections_digest);
  // Steps that keep failing (a sticky device error) take the server out of
  // rotation: health NOT_SERVING and /readyz 503 until a step succeeds.
  // After a drain began, health->Shutdown() makes SetServingStatus a no-op.
  engine_options.on_health = [&engine_healthy, &ready, &metrics, health](
                                 bool healthy, const absl::Status& error) {
    engine_healthy.store(healthy);
    Log(healthy ? std::string("engine: forward steps succeed again")
                : absl::StrCat("engine: forward steps keep failing (",
                               error.message(), "); health NOT_SERVING"));
    if (!ready.load()) return;  // loading or draining: nothing to flip
    health->SetServingStatus(healthy);
    metrics.ready.WithLabels({}).Set(healthy ? 1 : 0);
  };
  FairShare* fair = context->fair_share.get();
  engine_options.reorder_waiting = [fair](std::vector<SequenceView>& waiting) {
    fair->Order(waiting);
  };
  HistogramFamily* iteration = &metrics.iteration_tokens_total;
  engine_options.on_step = [iteration](int tokens) {
    iteration->WithLabels({}).Observe(tokens);
  };
  auto engine =
      Engine::Create(std::move(*backend), context->tokenizer, engine_options);
  if (!engine.ok()) {
    Log(absl::StrCat("engine: ", engine.status().message()));
    server->Shutdown();
    return 1;
  }
  context->engine = std::move(*engine);
  context->engine->Start();
  registry.AddCollector([&service, &metrics] {
    if (Engine* e = service.engine()) {
      metrics.Collect(e->stats(), service.tenants()->Snapshot());
    }
  });

  if (config->load_delay_seconds > 0) {
    stop.WaitFor(std::chrono::duration<double>(config->load_delay_seconds));
  }
  if (!stop.stopped()) {
    service.Activate(std::move(context));
    health->SetServingStatus(true);
    ready.store(true);
    metrics.ready.WithLabels({}).Set(1);
    Log(absl::StrCat(
        "serving ", config->model.path, " (compression ", method, ", device ",
        config->device == "cuda"
            ? absl::StrCat("cuda:", config->device_id, " ", config->dtype)
            : "cpu",
        ", KV pool ", num_blocks, " pages of ", block_size,
        " tokens, prompts up to ", service.engine()->limits().max_prompt_bytes,
        " bytes)"));
    stop.Wait();
  }

  Log(absl::StrCat("signal ", stop.signal, ": draining (deadline ",
                   config->drain_deadline_seconds, " s)"));
  ready.store(false);
  metrics.ready.WithLabels({}).Set(0);
  service.BeginDrain();
  health->Shutdown();  // NOT_SERVING from now on
  // In-flight work gets until the deadline: the engine's requests, and the
  // gRPC calls until their last message is handed to gRPC (a slow reader's
  // stream outlives its request), so Shutdown below finds no call open.
  // What is left at the deadline is cancelled in the engine, so each of its
  // calls ends as documented: the final message with finish_reason
  // CANCELLED and status OK, not a transport error. New calls meanwhile get
  // UNAVAILABLE (BeginDrain).
  const auto deadline =
      Clock::now() +
      std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(config->drain_deadline_seconds));
  if (!service.WaitIdle(deadline)) {
    Log(absl::StrCat(service.in_flight(), " requests and ",
                     service.open_calls(),
                     " gRPC calls still running at the drain deadline: "
                     "cancelled"));
    if (Engine* e = service.engine()) e->CancelAll();
    service.WaitIdle(Clock::now() + std::chrono::seconds(10));
  }
  // The calls have their final messages; give the writes time to reach
  // slow readers, then stop (gRPC takes system_clock deadlines). The HTTP
  // streams' last chunks are queued on their connections: a moment for
  // them too.
  if (openai_http != nullptr) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (Engine* e = service.engine()) e->Stop();
  Log("stopped");
  return 0;
}

}  // namespace
}  // namespace headroom::server

int main(int argc, char** argv) { return headroom::server::Run(argc, argv); }
