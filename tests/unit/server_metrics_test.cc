// The metrics registry's text format (Prometheus exposition 0.0.4).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "server/metrics.h"

namespace headroom::server {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, FormatsNumbers) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(3), "3");
  EXPECT_EQ(FormatMetricValue(0.25), "0.25");
  EXPECT_EQ(FormatMetricValue(1e-9), "1e-09");
  EXPECT_EQ(FormatMetricValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatMetricValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatMetricValue(0.0 / 0.0), "NaN");
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(MetricsTest, CounterAndGaugeFamilies) {
  MetricsRegistry r;
  CounterFamily& c = r.AddCounter("headroom:requests_total", "Requests.\nAll.",
                                  {"reason", "tenant"});
  c.WithLabels({"LENGTH", "alice"}).Increment();
  c.WithLabels({"LENGTH", "alice"}).Increment(2);
  c.WithLabels({"EOS", "b\"ob"}).Increment();
  c.WithLabels({"EOS", "b\"ob"}).Increment(-5);  // ignored: counters only rise
  GaugeFamily& g = r.AddGauge("headroom:running", "Running.");
  g.WithLabels({}).Set(4);
  g.WithLabels({}).Add(-1);
  EXPECT_EQ(r.Render(),
            "# HELP headroom:requests_total Requests.\\nAll.\n"
            "# TYPE headroom:requests_total counter\n"
            "headroom:requests_total{reason=\"EOS\",tenant=\"b\\\"ob\"} 1\n"
            "headroom:requests_total{reason=\"LENGTH\",tenant=\"alice\"} 3\n"
            "# HELP headroom:running Running.\n"
            "# TYPE headroom:running gauge\n"
            "headroom:running 3\n");
  // The same name again gives the same family.
  EXPECT_EQ(&r.AddCounter("headroom:requests_total", "x", {"a"}), &c);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry r;
  HistogramFamily& h =
      r.AddHistogram("ttft_seconds", "TTFT.", {"tenant"}, {0.5, 0.1, 1});
  Histogram& a = h.WithLabels({"a"});
  for (double v : {0.05, 0.1, 0.3, 2.0}) a.Observe(v);
  a.Observe(0.0 / 0.0);  // NaN is dropped
  EXPECT_EQ(r.Render(),
            "# HELP ttft_seconds TTFT.\n"
            "# TYPE ttft_seconds histogram\n"
            "ttft_seconds_bucket{tenant=\"a\",le=\"0.1\"} 2\n"
            "ttft_seconds_bucket{tenant=\"a\",le=\"0.5\"} 3\n"
            "ttft_seconds_bucket{tenant=\"a\",le=\"1\"} 3\n"
            "ttft_seconds_bucket{tenant=\"a\",le=\"+Inf\"} 4\n"
            "ttft_seconds_sum{tenant=\"a\"} 2.45\n"
            "ttft_seconds_count{tenant=\"a\"} 4\n");
}

TEST(MetricsTest, CollectorsRunBeforeRendering) {
  MetricsRegistry r;
  GaugeFamily& g = r.AddGauge("free_blocks", "Free.");
  int calls = 0;
  r.AddCollector([&] { g.WithLabels({}).Set(++calls * 10); });
  EXPECT_THAT(r.Render(), HasSubstr("free_blocks 10\n"));
  EXPECT_THAT(r.Render(), HasSubstr("free_blocks 20\n"));
  Counter c;
  c.SetTotal(5);
  c.SetTotal(3);  // never lowers
  EXPECT_EQ(c.value(), 5);
}

TEST(MetricsTest, ConcurrentUpdatesAreCounted) {
  MetricsRegistry r;
  CounterFamily& c = r.AddCounter("n_total", "N.", {"t"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        c.WithLabels({t % 2 ? "a" : "b"}).Increment();
        if (i % 100 == 0) r.Render();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.WithLabels({"a"}).value() + c.WithLabels({"b"}).value(), 4000);
}

}  // namespace
}  // namespace headroom::server
