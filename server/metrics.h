// A small Prometheus metrics registry: counter, gauge and histogram families
// with labels, rendered in the text exposition format 0.0.4.
//
//   MetricsRegistry registry;
//   CounterFamily& requests = registry.AddCounter(
//       "headroom:request_success_total", "Finished requests.",
//       {"finished_reason", "tenant"});
//   requests.WithLabels({"LENGTH", "alice"}).Increment();
//   std::string text = registry.Render();  // for GET /metrics
//
// Families and children are never removed, so the references handed out stay
// valid for the registry's lifetime. Every method is thread-safe.
#ifndef HEADROOM_SERVER_METRICS_H_
#define HEADROOM_SERVER_METRICS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace headroom::server {

// Prometheus number formatting: shortest round-trip decimal, "+Inf", "-Inf",
// "NaN".
std::string FormatMetricValue(double value);
// Label values: backslash, double quote and newline escaped.
std::string EscapeLabelValue(const std::string& value);

class Counter {
 public:
  void Increment(double by = 1.0);  // by >= 0
  // For totals mirrored from elsewhere (e.g. engine stats): never lowers.
  void SetTotal(double total);
  double value() const;

 private:
  mutable std::mutex mu_;
  double value_ = 0.0;
};

class Gauge {
 public:
  void Set(double value);
  void Add(double by);
  double value() const;

 private:
  mutable std::mutex mu_;
  double value_ = 0.0;
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);  // ascending upper bounds
  void Observe(double value);
  // Cumulative counts per bound (then +Inf), the sum and the count.
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // [bounds + 1]
    double sum = 0.0;
    uint64_t count = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; [bounds + 1]
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

enum class MetricType { kCounter, kGauge, kHistogram };

// One metric name with its children, one per label-value combination.
template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labels,
         std::vector<double> bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        labels_(std::move(labels)),
        bounds_(std::move(bounds)) {}

  // The child for these label values (one per label name, in order),
  // created on first use.
  T& WithLabels(const std::vector<std::string>& values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& labels() const { return labels_; }
  // Children in label-value order; the pointers stay valid.
  std::vector<std::pair<std::vector<std::string>, const T*>> Children() const;

 private:
  const std::string name_, help_;
  const std::vector<std::string> labels_;
  const std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();

  // Names must be unique; adding a name twice returns the first family
  // (whose type and labels win).
  CounterFamily& AddCounter(const std::string& name, const std::string& help,
                            const std::vector<std::string>& labels = {});
  GaugeFamily& AddGauge(const std::string& name, const std::string& help,
                        const std::vector<std::string>& labels = {});
  HistogramFamily& AddHistogram(const std::string& name,
                                const std::string& help,
                                const std::vector<std::string>& labels,
                                const std::vector<double>& bounds);

  // Called at the start of every Render (e.g. to copy engine stats into
  // gauges); runs without the registry's lock held.
  void AddCollector(std::function<void()> collect);

  // The whole registry in the text format 0.0.4, families in the order
  // they were added.
  std::string Render() const;

 private:
  struct Entry;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<std::function<void()>> collectors_;
};

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_METRICS_H_
