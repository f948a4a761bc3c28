// headroom-bench's statistics: percentiles, TPOT, SLOs, goodput, the report.
#include <gtest/gtest.h>

#include <cmath>

#include "bench/latency_stats.h"

namespace headroom::bench {
namespace {

RequestRecord Ok(double start_s, double ttft_s, double e2e_s, int tokens) {
  RequestRecord r;
  r.start_s = start_s;
  r.ttft_s = ttft_s;
  r.e2e_s = e2e_s;
  r.output_tokens = tokens;
  r.prompt_tokens = 5;
  r.got_usage = true;
  return r;
}

TEST(PercentileTest, InterpolatesBetweenClosestRanks) {
  const std::vector<double> v = {4, 1, 3, 2, 5};  // unsorted on purpose
  EXPECT_DOUBLE_EQ(Percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(v, 50), 3);
  EXPECT_DOUBLE_EQ(Percentile(v, 100), 5);
  EXPECT_DOUBLE_EQ(Percentile(v, 90), 4.6);   // rank 3.6
  EXPECT_DOUBLE_EQ(Percentile(v, 99), 4.96);  // rank 3.96
  EXPECT_DOUBLE_EQ(Percentile({1, 2, 3, 4}, 50), 2.5);
  EXPECT_DOUBLE_EQ(Percentile({7}, 99), 7);
  EXPECT_TRUE(std::isnan(Percentile({}, 50)));
}

TEST(PercentileTest, OneToHundred) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_DOUBLE_EQ(Percentile(v, 50), 50.5);
  EXPECT_DOUBLE_EQ(Percentile(v, 90), 90.1);
  EXPECT_DOUBLE_EQ(Percentile(v, 99), 99.01);
}

TEST(SummarizeTest, MeanMedianAndEmpty) {
  const Distribution d = Summarize({1, 2, 3, 10});
  EXPECT_EQ(d.count, 4);
  EXPECT_DOUBLE_EQ(d.mean, 4);
  EXPECT_DOUBLE_EQ(d.median, 2.5);
  const Distribution e = Summarize({});
  EXPECT_EQ(e.count, 0);
  EXPECT_TRUE(std::isnan(e.mean));
  EXPECT_TRUE(std::isnan(e.p99));
}

TEST(TpotTest, ExcludesTheFirstToken) {
  // 11 tokens: the first at 0.1 s, the other 10 over the next 0.5 s.
  ASSERT_TRUE(Tpot(0.6, 0.1, 11).has_value());
  EXPECT_DOUBLE_EQ(*Tpot(0.6, 0.1, 11), 0.05);
  EXPECT_FALSE(Tpot(0.6, 0.1, 1).has_value());
  EXPECT_FALSE(Tpot(0.6, 0.1, 0).has_value());
  EXPECT_FALSE(Tpot(0.6, -1, 5).has_value());  // no first token
}

TEST(SloTest, AllGivenSlosMustHold) {
  const RequestRecord r = Ok(0, 0.2, 1.2, 11);  // TPOT 0.1 s
  EXPECT_TRUE(MeetsSlo(r, {}));
  EXPECT_TRUE(MeetsSlo(r, {0.2, std::nullopt}));
  EXPECT_FALSE(MeetsSlo(r, {0.19, std::nullopt}));
  EXPECT_TRUE(MeetsSlo(r, {std::nullopt, 0.1}));
  EXPECT_FALSE(MeetsSlo(r, {std::nullopt, 0.09}));
  EXPECT_FALSE(MeetsSlo(r, {0.5, 0.09}));
  EXPECT_TRUE(MeetsSlo(Ok(0, 0.2, 0.2, 1), {std::nullopt, 0.001}));
  RequestRecord failed = r;
  failed.status = "RESOURCE_EXHAUSTED";
  EXPECT_FALSE(MeetsSlo(failed, {}));
}

TEST(ReportTest, CountsThroughputGoodputAndDistributions) {
  std::vector<RequestRecord> records = {
      Ok(0.0, 0.1, 1.1, 11),  // TPOT 0.1
      Ok(0.5, 0.3, 1.3, 11),  // TPOT 0.1, TTFT over the SLO
      Ok(1.0, 0.1, 0.6, 6),   // TPOT 0.1
      Ok(1.5, 0.2, 2.5, 3),   // TPOT 1.15, over the SLO
  };
  records[0].itl_s = {0.1, 0.2};
  records[2].itl_s = {0.3};
  RequestRecord failed;
  failed.start_s = 2;
  failed.e2e_s = 0.01;
  failed.status = "RESOURCE_EXHAUSTED";
  records.push_back(failed);

  const Report rep = MakeReport(records, 4.0, {0.25, 0.2});
  EXPECT_EQ(rep.requests_completed, 4);
  EXPECT_EQ(rep.requests_failed, 1);
  EXPECT_EQ(rep.status_counts.at("OK"), 4);
  EXPECT_EQ(rep.status_counts.at("RESOURCE_EXHAUSTED"), 1);
  EXPECT_EQ(rep.prompt_tokens_total, 20);  // the failed one had no usage
  EXPECT_EQ(rep.generation_tokens_total, 31);
  EXPECT_DOUBLE_EQ(rep.request_throughput, 1.0);
  EXPECT_DOUBLE_EQ(rep.output_token_throughput, 31 / 4.0);
  EXPECT_EQ(rep.good_requests, 2);
  EXPECT_DOUBLE_EQ(rep.goodput, 0.5);
  EXPECT_EQ(rep.ttft.count, 4);
  EXPECT_DOUBLE_EQ(rep.ttft.mean, 0.175);
  EXPECT_DOUBLE_EQ(rep.ttft.median, 0.15);
  EXPECT_EQ(rep.tpot.count, 4);
  EXPECT_DOUBLE_EQ(rep.tpot.median, 0.1);
  EXPECT_EQ(rep.itl.count, 3);
  EXPECT_DOUBLE_EQ(rep.itl.mean, 0.2);
  EXPECT_EQ(rep.e2e.count, 4);
  EXPECT_DOUBLE_EQ(rep.e2e.p90, 1.3 + (2.5 - 1.3) * 0.7);

  // Without a duration: first send to last completion (1.5 + 2.5).
  EXPECT_DOUBLE_EQ(MakeReport(records, 0, {}).duration_s, 4.0);
  EXPECT_EQ(MakeReport(records, 0, {}).good_requests, 4);
}

TEST(ReportTest, JsonInMillisecondsWithNullForEmpty) {
  const Report rep = MakeReport({Ok(0, 0.1, 0.1, 1)}, 1.0, {});
  const nlohmann::json j = ReportJson(rep);
  EXPECT_EQ(j["requests_completed"], 1);
  EXPECT_EQ(j["generation_tokens_total"], 1);
  EXPECT_DOUBLE_EQ(j["ttft"]["mean_ms"].get<double>(), 100.0);
  EXPECT_TRUE(j["tpot"]["mean_ms"].is_null());
  EXPECT_TRUE(j["itl"]["p99_ms"].is_null());
}

}  // namespace
}  // namespace headroom::bench
