// headroom-bench: a load generator for headroom-server's gRPC API (or, with
// --api openai, its OpenAI-compatible HTTP API: streamed /v1/completions
// with the same prompts and sampling, --addr naming the HTTP port). Sends
// GenerateStream requests and measures, per request, TTFT (send -> first
// delta with text or tokens), ITL (gaps between successive deltas), TPOT
// ((E2E - TTFT) / (output tokens - 1)), E2E and the output tokens of the
// final usage message; reports their mean, median, p90 and p99, throughput
// and goodput under SLOs.
//
//   headroom-bench --prompts-file FILE [--addr HOST:PORT] [--api-key KEY]
//       [--api grpc|openai]
//       (--concurrency N | --request-rate R [--arrival poisson|gamma]
//        [--burstiness K]) [--num-requests N] [--prompt-words A:B]
//       [--max-tokens N | --max-tokens-range A:B] [--temperature T]
//       [--seed S] [--ignore-eos] [--rng-seed S] [--timeout SECONDS]
//       [--slo-ttft-ms MS] [--slo-tpot-ms MS] [--json FILE] [--progress]
//
// Closed loop (--concurrency N): N streams always in flight. Open loop
// (--request-rate R, requests per second; "inf" sends all at once): arrivals
// with gamma-distributed gaps of mean 1/R and shape K (--burstiness, default
// 1: Poisson; below 1 burstier). Prompts are non-empty lines of the file,
// picked with --rng-seed (default 0), which also draws the arrivals, the
// prompt lengths (--prompt-words: the line's first A..B words) and
// --max-tokens-range. --temperature and --seed go to the server as they are.
// Output: a summary on stdout; --json FILE: the summary, the settings and
// every request; a progress bar on stderr when it is a terminal or with
// --progress. Exit status: 0 when some request completed, 1 when none did
// or the server is unreachable, 2 on bad flags.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/latency_stats.h"
#include "bench/openai_stream_client.h"
#include "headroom/v1/headroom.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tools/cli_args.h"
#include "tools/grpc_code_name.h"

namespace headroom::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Since(Clock::time_point t0, Clock::time_point t) {
  return std::chrono::duration<double>(t - t0).count();
}

struct Settings {
  std::string addr = "127.0.0.1:50051";
  std::string api = "grpc";  // grpc | openai
  std::string api_key;
  int concurrency = 0;      // > 0: closed loop
  double request_rate = 0;  // > 0: open loop
  std::string arrival = "poisson";
  double burstiness = 1;
  int num_requests = 100;
  std::string prompts_file;
  bool prompt_words = false;
  std::pair<int, int> prompt_words_range{0, 0};
  std::pair<int, int> max_tokens{0, 0};  // {0, 0}: the server's default
  std::optional<float> temperature;
  std::optional<uint64_t> seed;
  bool ignore_eos = false;
  uint64_t rng_seed = 0;
  double timeout_s = 0;
  Slo slo;
  std::string json_path;
  bool progress = false;
};

// One planned request: what to send and when (open loop).
struct Work {
  v1::GenerateRequest request;
  double arrival_s = 0;
};

absl::StatusOr<Settings> ParseSettings(int argc, char** argv) {
  auto args = tools::CliArgs::Parse(
      argc, argv, 1, {{"addr"},         {"api-key"},           {"concurrency"},
                      {"request-rate"}, {"arrival"},           {"burstiness"},
                      {"num-requests"}, {"prompts-file"},      {"prompt-words"},
                      {"max-tokens"},   {"max-tokens-range"},  {"temperature"},
                      {"seed"},         {"ignore-eos", false}, {"rng-seed"},
                      {"timeout"},      {"slo-ttft-ms"},       {"slo-tpot-ms"},
                      {"json"},         {"progress", false},   {"api"}});
  if (!args.ok()) return args.status();
  Settings s;
  s.addr = args->Get("addr", s.addr);
  s.api = args->Get("api", s.api);
  if (s.api != "grpc" && s.api != "openai") {
    return absl::InvalidArgumentError("--api: expected grpc or openai");
  }
  s.api_key = args->Get("api-key");
  if (s.api_key.empty()) {
    if (const char* env = std::getenv("HEADROOM_API_KEY")) s.api_key = env;
  }
  auto concurrency = args->GetInt("concurrency", 0);
  if (!concurrency.ok()) return concurrency.status();
  s.concurrency = *concurrency;
  if (args->Has("request-rate")) {
    const std::string v = args->Get("request-rate");
    if (v == "inf") {
      s.request_rate = std::numeric_limits<double>::infinity();
    } else {
      auto rate = args->GetDouble("request-rate", 0);
      if (!rate.ok()) return rate.status();
      s.request_rate = *rate;
    }
    if (!(s.request_rate > 0)) {
      return absl::InvalidArgumentError("--request-rate: expected > 0 or inf");
    }
  }
  if ((s.concurrency > 0) == (s.request_rate > 0)) {
    return absl::InvalidArgumentError(
        "give exactly one of --concurrency N (>= 1) and --request-rate R");
  }
  s.arrival = args->Get("arrival", s.arrival);
  if (s.arrival != "poisson" && s.arrival != "gamma") {
    return absl::InvalidArgumentError("--arrival: expected poisson or gamma");
  }
  auto burstiness = args->GetDouble("burstiness", 1);
  if (!burstiness.ok()) return burstiness.status();
  s.burstiness = *burstiness;
  if (!(s.burstiness > 0)) {
    return absl::InvalidArgumentError("--burstiness: expected > 0");
  }
  if (s.arrival == "poisson" && args->Has("burstiness") && s.burstiness != 1) {
    return absl::InvalidArgumentError(
        "--burstiness other than 1 needs --arrival gamma");
  }
  auto n = args->GetInt("num-requests", s.num_requests);
  if (!n.ok()) return n.status();
  if (*n < 1)
    return absl::InvalidArgumentError("--num-requests: expected >= 1");
  s.num_requests = *n;
  auto prompts = args->Require("prompts-file");
  if (!prompts.ok()) return prompts.status();
  s.prompts_file = *prompts;
  auto words = args->GetRange("prompt-words", &s.prompt_words);
  if (!words.ok()) return words.status();
  s.prompt_words_range = *words;
  if (args->Has("max-tokens") && args->Has("max-tokens-range")) {
    return absl::InvalidArgumentError(
        "give one of --max-tokens and --max-tokens-range");
  }
  if (args->Has("max-tokens")) {
    auto m = args->GetInt("max-tokens", 0);
    if (!m.ok()) return m.status();
    if (*m < 1)
      return absl::InvalidArgumentError("--max-tokens: expected >= 1");
    s.max_tokens = {*m, *m};
  }
  bool range_given = false;
  auto range = args->GetRange("max-tokens-range", &range_given);
  if (!range.ok()) return range.status();
  if (range_given) s.max_tokens = *range;
  if (args->Has("temperature")) {
    auto t = args->GetDouble("temperature", 0);
    if (!t.ok()) return t.status();
    s.temperature = static_cast<float>(*t);
  }
  for (const char* name : {"seed", "rng-seed"}) {
    if (!args->Has(name)) continue;
    uint64_t v = 0;
    if (!absl::SimpleAtoi(args->Get(name), &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, ": expected an integer >= 0"));
    }
    if (std::string(name) == "seed") {
      s.seed = v;
    } else {
      s.rng_seed = v;
    }
  }
  s.ignore_eos = args->Has("ignore-eos");
  auto timeout = args->GetDouble("timeout", 0);
  if (!timeout.ok()) return timeout.status();
  s.timeout_s = *timeout;
  for (const char* name : {"slo-ttft-ms", "slo-tpot-ms"}) {
    if (!args->Has(name)) continue;
    auto ms = args->GetDouble(name, 0);
    if (!ms.ok()) return ms.status();
    if (!(*ms > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, ": expected > 0"));
    }
    (std::string(name) == "slo-ttft-ms" ? s.slo.ttft_s : s.slo.tpot_s) =
        *ms / 1e3;
  }
  s.json_path = args->Get("json");
  s.progress = args->Has("progress") || ::isatty(STDERR_FILENO) == 1;
  return s;
}

absl::StatusOr<std::vector<std::string>> ReadPrompts(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) {
      lines.push_back(line);
    }
  }
  if (lines.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " has no non-empty line"));
  }
  return lines;
}

// Every request, drawn up front from --rng-seed so that a run repeats.
std::vector<Work> Plan(const Settings& s,
                       const std::vector<std::string>& prompts) {
  std::mt19937_64 rng(s.rng_seed);
  std::uniform_int_distribution<size_t> pick(0, prompts.size() - 1);
  std::vector<Work> plan(s.num_requests);
  double t = 0;
  for (Work& w : plan) {
    std::string prompt = prompts[pick(rng)];
    if (s.prompt_words) {
      const int words = std::uniform_int_distribution<int>(
          s.prompt_words_range.first, s.prompt_words_range.second)(rng);
      std::vector<std::string> parts =
          absl::StrSplit(prompt, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (static_cast<int>(parts.size()) > words) parts.resize(words);
      prompt = absl::StrJoin(parts, " ");
    }
    w.request.set_prompt(prompt);
    if (s.max_tokens.first > 0) {
      w.request.set_max_tokens(std::uniform_int_distribution<int>(
          s.max_tokens.first, s.max_tokens.second)(rng));
    }
    if (s.temperature) w.request.set_temperature(*s.temperature);
    if (s.seed) w.request.set_seed(*s.seed);
    w.request.set_ignore_eos(s.ignore_eos);
    if (s.request_rate > 0 && std::isfinite(s.request_rate)) {
      // Gamma gaps with mean 1/R and shape k (k = 1: exponential, Poisson).
      const double k = s.arrival == "gamma" ? s.burstiness : 1.0;
      w.arrival_s = t;
      t += std::gamma_distribution<double>(k, 1.0 / (s.request_rate * k))(rng);
    }
  }
  return plan;
}

struct Progress {
  std::atomic<int> started{0};
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
};

RequestRecord RunOne(v1::Headroom::Stub* stub, const Settings& s,
                     const v1::GenerateRequest& request, Clock::time_point t0) {
  RequestRecord r;
  grpc::ClientContext ctx;
  if (!s.api_key.empty()) {
    ctx.AddMetadata("authorization", "Bearer " + s.api_key);
  }
  if (s.timeout_s > 0) {
    ctx.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::duration<double>(s.timeout_s)));
  }
  const Clock::time_point sent = Clock::now();
  r.start_s = Since(t0, sent);
  auto reader = stub->GenerateStream(&ctx, request);
  v1::GenerateStreamResponse msg;
  Clock::time_point last = sent;
  while (reader->Read(&msg)) {
    const Clock::time_point now = Clock::now();
    if (!msg.text().empty() || msg.token_ids_size() > 0) {
      if (r.ttft_s < 0) {
        r.ttft_s = Since(sent, now);
      } else {
        r.itl_s.push_back(Since(last, now));
      }
      last = now;
    }
    if (msg.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
      r.got_usage = true;
      r.prompt_tokens = msg.usage().prompt_tokens();
      r.output_tokens = msg.usage().completion_tokens();
    }
  }
  const grpc::Status status = reader->Finish();
  r.e2e_s = Since(sent, Clock::now());
  r.status = tools::GrpcCodeName(status.error_code());
  if (!status.ok()) r.error = status.error_message();
  return r;
}

void DrawProgress(const Progress& p, int total, double elapsed_s, bool last) {
  constexpr int kWidth = 30;
  const int done = p.done.load();
  const int filled = total > 0 ? done * kWidth / total : kWidth;
  std::string bar(filled, '=');
  if (filled < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  std::cerr << absl::StrFormat(
      "\r[%s] %d/%d done, %d failed, %d in flight, %.1f s", bar, done, total,
      p.failed.load(), p.started.load() - done, elapsed_s);
  if (last) std::cerr << "\n";
  std::cerr << std::flush;
}

std::string Ms(double seconds) {
  if (std::isnan(seconds)) return "-";
  return absl::StrFormat("%.2f", seconds * 1e3);
}

void PrintSummary(const Settings& s, const Report& rep) {
  std::ostringstream o;
  auto row = [&o](const std::string& name, const std::string& value) {
    o << absl::StrFormat("%-34s %s\n", name, value);
  };
  o << "============ headroom-bench ============\n";
  row("Target:", absl::StrCat(s.addr, " (", s.api, ")"));
  if (s.concurrency > 0) {
    row("Load:", absl::StrCat("closed loop, concurrency ", s.concurrency));
  } else {
    row("Load:",
        absl::StrCat("open loop, ", absl::StrFormat("%g", s.request_rate),
                     " req/s, ", s.arrival,
                     s.arrival == "gamma"
                         ? absl::StrFormat(" (burstiness %g)", s.burstiness)
                         : ""));
  }
  row("Requests completed:", absl::StrCat(rep.requests_completed));
  row("Requests failed:", absl::StrCat(rep.requests_failed));
  std::vector<std::string> codes;
  for (const auto& [code, count] : rep.status_counts) {
    codes.push_back(absl::StrCat(code, " ", count));
  }
  row("Status codes:", absl::StrJoin(codes, ", "));
  row("Duration (s):", absl::StrFormat("%.2f", rep.duration_s));
  row("Prompt tokens (usage):", absl::StrCat(rep.prompt_tokens_total));
  row("Generated tokens (usage):", absl::StrCat(rep.generation_tokens_total));
  row("Request throughput (req/s):",
      absl::StrFormat("%.2f", rep.request_throughput));
  row("Output token throughput (tok/s):",
      absl::StrFormat("%.2f", rep.output_token_throughput));
  if (s.slo.ttft_s || s.slo.tpot_s) {
    std::vector<std::string> slos;
    if (s.slo.ttft_s) {
      slos.push_back(absl::StrFormat("TTFT <= %g ms", *s.slo.ttft_s * 1e3));
    }
    if (s.slo.tpot_s) {
      slos.push_back(absl::StrFormat("TPOT <= %g ms", *s.slo.tpot_s * 1e3));
    }
    row(absl::StrCat("Goodput (req/s, ", absl::StrJoin(slos, ", "), "):"),
        absl::StrFormat("%.2f (%d good)", rep.goodput, rep.good_requests));
  }
  o << absl::StrFormat("%-10s %10s %10s %10s %10s %8s\n", "ms", "mean",
                       "median", "p90", "p99", "n");
  const std::pair<const char*, const Distribution*> rows[] = {
      {"TTFT", &rep.ttft},
      {"TPOT", &rep.tpot},
      {"ITL", &rep.itl},
      {"E2E", &rep.e2e}};
  for (const auto& [name, d] : rows) {
    o << absl::StrFormat("%-10s %10s %10s %10s %10s %8d\n", name, Ms(d->mean),
                         Ms(d->median), Ms(d->p90), Ms(d->p99), d->count);
  }
  o << "========================================\n";
  std::cout << o.str() << std::flush;
}

// The same request as the OpenAI API's completions body.
json OpenAiBody(const v1::GenerateRequest& r, const std::string& model) {
  json j = {{"model", model}, {"prompt", r.prompt()}};
  if (r.has_max_tokens()) j["max_tokens"] = r.max_tokens();
  if (r.has_temperature()) j["temperature"] = r.temperature();
  if (r.has_seed()) j["seed"] = r.seed();
  if (r.ignore_eos()) j["ignore_eos"] = true;
  return j;
}

json SettingsJson(const Settings& s) {
  json j = {{"addr", s.addr},
            {"api", s.api},
            {"num_requests", s.num_requests},
            {"prompts_file", s.prompts_file},
            {"ignore_eos", s.ignore_eos},
            {"rng_seed", s.rng_seed}};
  if (s.concurrency > 0) {
    j["concurrency"] = s.concurrency;
  } else {
    j["request_rate"] =
        std::isfinite(s.request_rate) ? json(s.request_rate) : json("inf");
    j["arrival"] = s.arrival;
    j["burstiness"] = s.burstiness;
  }
  if (s.prompt_words) {
    j["prompt_words"] = {s.prompt_words_range.first,
                         s.prompt_words_range.second};
  }
  if (s.max_tokens.first > 0) {
    j["max_tokens"] = {s.max_tokens.first, s.max_tokens.second};
  }
  if (s.temperature) j["temperature"] = *s.temperature;
  if (s.seed) j["seed"] = *s.seed;
  if (s.timeout_s > 0) j["timeout_s"] = s.timeout_s;
  if (s.slo.ttft_s) j["slo_ttft_ms"] = *s.slo.ttft_s * 1e3;
  if (s.slo.tpot_s) j["slo_tpot_ms"] = *s.slo.tpot_s * 1e3;
  return j;
}

int Run(int argc, char** argv) {
  auto settings = ParseSettings(argc, argv);
  if (!settings.ok()) {
    std::cerr << "headroom-bench: " << settings.status().message()
              << "\n(usage: see the header of bench/bench_main.cc)\n";
    return 2;
  }
  const Settings& s = *settings;
  auto prompts = ReadPrompts(s.prompts_file);
  if (!prompts.ok()) {
    std::cerr << "headroom-bench: " << prompts.status().message() << "\n";
    return 2;
  }
  const std::vector<Work> plan = Plan(s, *prompts);

  std::unique_ptr<v1::Headroom::Stub> stub;
  std::string model;
  if (s.api == "grpc") {
    auto channel =
        grpc::CreateChannel(s.addr, grpc::InsecureChannelCredentials());
    if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                   std::chrono::seconds(10))) {
      std::cerr << "headroom-bench: cannot connect to " << s.addr << "\n";
      return 1;
    }
    stub = v1::Headroom::NewStub(channel);
  } else {
    auto name = OpenAiModelName(s.addr, s.api_key, 10);
    if (!name.ok()) {
      std::cerr << "headroom-bench: " << name.status().message() << "\n";
      return 1;
    }
    model = *name;
  }

  std::vector<RequestRecord> records(plan.size());
  Progress progress;
  const Clock::time_point t0 = Clock::now();
  auto run_index = [&](size_t i) {
    progress.started.fetch_add(1);
    if (stub != nullptr) {
      records[i] = RunOne(stub.get(), s, plan[i].request, t0);
    } else {
      records[i] = RunOpenAiStream(
          s.addr, s.api_key, OpenAiBody(plan[i].request, model), s.timeout_s);
      records[i].start_s = Since(t0, Clock::now()) - records[i].e2e_s;
    }
    if (!records[i].ok()) progress.failed.fetch_add(1);
    progress.done.fetch_add(1);
  };

  std::atomic<bool> finished{false};
  std::thread drawer;
  if (s.progress) {
    drawer = std::thread([&] {
      while (!finished.load()) {
        DrawProgress(progress, s.num_requests, Since(t0, Clock::now()), false);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
  }

  std::vector<std::thread> threads;
  // Outlives the workers: they are joined below, after this block.
  std::atomic<size_t> next{0};
  if (s.concurrency > 0) {
    const int n = std::min(s.concurrency, s.num_requests);
    threads.reserve(n);
    for (int w = 0; w < n; ++w) {
      threads.emplace_back([&] {
        for (size_t i = next.fetch_add(1); i < plan.size();
             i = next.fetch_add(1)) {
          run_index(i);
        }
      });
    }
  } else {
    // Open loop: one thread per request, started at its arrival time.
    threads.reserve(plan.size());
    for (size_t i = 0; i < plan.size(); ++i) {
      std::this_thread::sleep_until(
          t0 + std::chrono::duration_cast<Clock::duration>(
                   std::chrono::duration<double>(plan[i].arrival_s)));
      threads.emplace_back(run_index, i);
    }
  }
  for (std::thread& t : threads) t.join();
  const double duration_s = Since(t0, Clock::now());
  finished.store(true);
  if (drawer.joinable()) {
    drawer.join();
    DrawProgress(progress, s.num_requests, duration_s, true);
  }

  // The first error message of each failing code, to stderr.
  std::map<std::string, std::string> first_error;
  for (const RequestRecord& r : records) {
    if (!r.ok() && first_error.count(r.status) == 0) {
      first_error[r.status] = r.error;
      std::cerr << "headroom-bench: " << r.status << ": " << r.error << "\n";
    }
  }

  const Report report = MakeReport(records, duration_s, s.slo);
  PrintSummary(s, report);
  if (!s.json_path.empty()) {
    json j = ReportJson(report);
    j["settings"] = SettingsJson(s);
    j["errors"] = first_error;
    json requests = json::array();
    for (const RequestRecord& r : records) requests.push_back(RecordJson(r));
    j["requests"] = std::move(requests);
    std::ofstream out(s.json_path);
    out << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    if (!out) {
      std::cerr << "headroom-bench: cannot write " << s.json_path << "\n";
      return 1;
    }
  }
  return report.requests_completed > 0 ? 0 : 1;
}

}  // namespace
}  // namespace headroom::bench

int main(int argc, char** argv) { return headroom::bench::Run(argc, argv); }
