// Latency statistics for headroom-bench: per-request records, percentiles,
// TPOT and goodput under SLOs. No gRPC here, so the unit tests link it alone.
#ifndef HEADROOM_BENCH_LATENCY_STATS_H_
#define HEADROOM_BENCH_LATENCY_STATS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace headroom::bench {

// One request as the client saw it. Times are seconds.
struct RequestRecord {
  double start_s = 0;  // send time, from the start of the run
  double ttft_s = -1;  // send -> first delta with text or tokens; < 0: none
  std::vector<double> itl_s;  // gaps between successive deltas
  double e2e_s = 0;           // send -> end of the stream
  int prompt_tokens = 0;      // from the final usage message
  int output_tokens = 0;      // from the final usage message
  bool got_usage = false;     // a final message with usage arrived
  std::string status = "OK";  // gRPC status code name
  std::string error;          // the status message when not OK

  bool ok() const { return status == "OK"; }
};

// Time per output token after the first: (e2e - ttft) / (output_tokens - 1);
// nullopt with fewer than two output tokens or no first token.
std::optional<double> Tpot(double e2e_s, double ttft_s, int output_tokens);
std::optional<double> Tpot(const RequestRecord& r);

// The p-th percentile (0..100) with linear interpolation between the closest
// ranks (as numpy.percentile does); NaN when `values` is empty.
double Percentile(std::vector<double> values, double p);

struct Distribution {
  int count = 0;
  double mean = 0, median = 0, p90 = 0, p99 = 0;  // NaN when count == 0
};
Distribution Summarize(const std::vector<double>& values);

// Service-level objectives; an unset one is not checked.
struct Slo {
  std::optional<double> ttft_s;
  std::optional<double> tpot_s;
};
// True when `r` succeeded and meets every SLO given. A request with fewer
// than two output tokens has no TPOT and meets a TPOT SLO.
bool MeetsSlo(const RequestRecord& r, const Slo& slo);

struct Report {
  double duration_s = 0;       // first send -> last completion
  int requests_completed = 0;  // status OK
  int requests_failed = 0;
  std::map<std::string, int> status_counts;  // by code name, OK included
  long long prompt_tokens_total = 0;         // sums of the usage messages
  long long generation_tokens_total = 0;
  double request_throughput = 0;       // completed / s
  double output_token_throughput = 0;  // generated tokens / s
  int good_requests = 0;               // completed and within the SLOs
  double goodput = 0;                  // good requests / s
  // Over completed requests (seconds); ITL over every gap of them.
  Distribution ttft, tpot, itl, e2e;
};
// `duration_s` <= 0: taken from the records (last start + e2e).
Report MakeReport(const std::vector<RequestRecord>& records, double duration_s,
                  const Slo& slo);

// The report as JSON, distributions in milliseconds (NaN as null).
nlohmann::json ReportJson(const Report& report);
// One request as JSON (milliseconds).
nlohmann::json RecordJson(const RequestRecord& r);

}  // namespace headroom::bench

#endif  // HEADROOM_BENCH_LATENCY_STATS_H_
