#include "bench/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace headroom::bench {

std::optional<double> Tpot(double e2e_s, double ttft_s, int output_tokens) {
  if (output_tokens < 2 || ttft_s < 0) return std::nullopt;
  return (e2e_s - ttft_s) / (output_tokens - 1);
}

std::optional<double> Tpot(const RequestRecord& r) {
  return Tpot(r.e2e_s, r.ttft_s, r.output_tokens);
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 *
                      static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return values[lo] + (values[hi] - values[lo]) * frac;
}

Distribution Summarize(const std::vector<double>& values) {
  Distribution d;
  d.count = static_cast<int>(values.size());
  if (values.empty()) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    d.mean = d.median = d.p90 = d.p99 = nan;
    return d;
  }
  d.mean = std::accumulate(values.begin(), values.end(), 0.0) /
           static_cast<double>(values.size());
  d.median = Percentile(values, 50);
  d.p90 = Percentile(values, 90);
  d.p99 = Percentile(values, 99);
  return d;
}

bool MeetsSlo(const RequestRecord& r, const Slo& slo) {
  if (!r.ok()) return false;
  if (slo.ttft_s.has_value() && (r.ttft_s < 0 || r.ttft_s > *slo.ttft_s)) {
    return false;
  }
  if (slo.tpot_s.has_value()) {
    const std::optional<double> tpot = Tpot(r);
    if (tpot.has_value() && *tpot > *slo.tpot_s) return false;
  }
  return true;
}

Report MakeReport(const std::vector<RequestRecord>& records, double duration_s,
                  const Slo& slo) {
  Report rep;
  std::vector<double> ttft, tpot, itl, e2e;
  double end_s = 0;
  for (const RequestRecord& r : records) {
    end_s = std::max(end_s, r.start_s + r.e2e_s);
    ++rep.status_counts[r.status];
    if (r.got_usage) {
      rep.prompt_tokens_total += r.prompt_tokens;
      rep.generation_tokens_total += r.output_tokens;
    }
    if (!r.ok()) {
      ++rep.requests_failed;
      continue;
    }
    ++rep.requests_completed;
    if (MeetsSlo(r, slo)) ++rep.good_requests;
    if (r.ttft_s >= 0) ttft.push_back(r.ttft_s);
    if (std::optional<double> t = Tpot(r)) tpot.push_back(*t);
    itl.insert(itl.end(), r.itl_s.begin(), r.itl_s.end());
    e2e.push_back(r.e2e_s);
  }
  rep.duration_s = duration_s > 0 ? duration_s : end_s;
  if (rep.duration_s > 0) {
    rep.request_throughput = rep.requests_completed / rep.duration_s;
    rep.output_token_throughput =
        static_cast<double>(rep.generation_tokens_total) / rep.duration_s;
    rep.goodput = rep.good_requests / rep.duration_s;
  }
  rep.ttft = Summarize(ttft);
  rep.tpot = Summarize(tpot);
  rep.itl = Summarize(itl);
  rep.e2e = Summarize(e2e);
  return rep;
}

namespace {

nlohmann::json Ms(double seconds) {
  if (std::isnan(seconds)) return nullptr;
  return seconds * 1e3;
}

nlohmann::json DistributionJson(const Distribution& d) {
  return {{"count", d.count},
          {"mean_ms", Ms(d.mean)},
          {"median_ms", Ms(d.median)},
          {"p90_ms", Ms(d.p90)},
          {"p99_ms", Ms(d.p99)}};
}

}  // namespace

nlohmann::json ReportJson(const Report& r) {
  return {{"duration_s", r.duration_s},
          {"requests_completed", r.requests_completed},
          {"requests_failed", r.requests_failed},
          {"status_counts", r.status_counts},
          {"prompt_tokens_total", r.prompt_tokens_total},
          {"generation_tokens_total", r.generation_tokens_total},
          {"request_throughput", r.request_throughput},
          {"output_token_throughput", r.output_token_throughput},
          {"good_requests", r.good_requests},
          {"goodput", r.goodput},
          {"ttft", DistributionJson(r.ttft)},
          {"tpot", DistributionJson(r.tpot)},
          {"itl", DistributionJson(r.itl)},
          {"e2e", DistributionJson(r.e2e)}};
}

nlohmann::json RecordJson(const RequestRecord& r) {
  nlohmann::json itl = nlohmann::json::array();
  for (double g : r.itl_s) itl.push_back(g * 1e3);
  const std::optional<double> tpot = Tpot(r);
  nlohmann::json j = {
      {"start_ms", r.start_s * 1e3},
      {"ttft_ms",
       r.ttft_s < 0 ? nlohmann::json(nullptr) : nlohmann::json(r.ttft_s * 1e3)},
      {"tpot_ms", tpot ? nlohmann::json(*tpot * 1e3) : nlohmann::json(nullptr)},
      {"e2e_ms", r.e2e_s * 1e3},
      {"itl_ms", itl},
      {"prompt_tokens", r.prompt_tokens},
      {"output_tokens", r.output_tokens},
      {"status", r.status}};
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

}  // namespace headroom::bench
