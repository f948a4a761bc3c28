#include "server/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace headroom::server {

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// {a="x",b="y"} plus an optional extra pair (the histogram's le); "" when
// there are no labels at all.
std::string LabelText(const std::vector<std::string>& names,
                      const std::vector<std::string>& values,
                      const std::string& extra_name = "",
                      const std::string& extra_value = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "" : ",", names[i], "=\"",
                    EscapeLabelValue(values[i]), "\"");
  }
  if (!extra_name.empty()) {
    absl::StrAppend(&out, out.empty() ? "" : ",", extra_name, "=\"",
                    extra_value, "\"");
  }
  return out.empty() ? out : absl::StrCat("{", out, "}");
}

}  // namespace

void Counter::Increment(double by) {
  if (!(by >= 0)) return;  // counters only go up (NaN ignored too)
  std::lock_guard<std::mutex> lock(mu_);
  value_ += by;
}

void Counter::SetTotal(double total) {
  std::lock_guard<std::mutex> lock(mu_);
  value_ = std::max(value_, total);
}

double Counter::value() const {
  std::lock_guard<std::mutex> lock(mu_);
  return value_;
}

void Gauge::Set(double value) {
  std::lock_guard<std::mutex> lock(mu_);
  value_ = value;
}

void Gauge::Add(double by) {
  std::lock_guard<std::mutex> lock(mu_);
  value_ += by;
}

double Gauge::value() const {
  std::lock_guard<std::mutex> lock(mu_);
  return value_;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // Bucket i counts values <= bounds_[i] (and above the bound before).
  const size_t i =
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[i];
  sum_ += value;
  ++count_;
}

Histogram::Snapshot Histogram::Read() const {
  std::lock_guard<std::mutex> lock(mu_);
  Snapshot s;
  s.cumulative.resize(counts_.size());
  uint64_t running = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    running += counts_[i];
    s.cumulative[i] = running;
  }
  s.sum = sum_;
  s.count = count_;
  return s;
}

template <typename T>
T& Family<T>::WithLabels(const std::vector<std::string>& values) {
  std::vector<std::string> key = values;
  key.resize(labels_.size());  // a wrong count gets "" or loses extras
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = children_[key];
  if (slot == nullptr) {
    if constexpr (std::is_same_v<T, Histogram>) {
      slot = std::make_unique<Histogram>(bounds_);
    } else {
      slot = std::make_unique<T>();
    }
  }
  return *slot;
}

template <typename T>
std::vector<std::pair<std::vector<std::string>, const T*>> Family<T>::Children()
    const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::vector<std::string>, const T*>> out;
  for (const auto& [key, child] : children_) out.push_back({key, child.get()});
  return out;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct MetricsRegistry::Entry {
  MetricType type;
  std::unique_ptr<CounterFamily> counter;
  std::unique_ptr<GaugeFamily> gauge;
  std::unique_ptr<HistogramFamily> histogram;
  const std::string& name() const {
    return counter ? counter->name()
           : gauge ? gauge->name()
                   : histogram->name();
  }
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

CounterFamily& MetricsRegistry::AddCounter(
    const std::string& name, const std::string& help,
    const std::vector<std::string>& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& e : entries_) {
    if (e->name() == name && e->counter) return *e->counter;
  }
  auto e = std::make_unique<Entry>();
  e->type = MetricType::kCounter;
  e->counter = std::make_unique<CounterFamily>(name, help, labels);
  entries_.push_back(std::move(e));
  return *entries_.back()->counter;
}

GaugeFamily& MetricsRegistry::AddGauge(const std::string& name,
                                       const std::string& help,
                                       const std::vector<std::string>& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& e : entries_) {
    if (e->name() == name && e->gauge) return *e->gauge;
  }
  auto e = std::make_unique<Entry>();
  e->type = MetricType::kGauge;
  e->gauge = std::make_unique<GaugeFamily>(name, help, labels);
  entries_.push_back(std::move(e));
  return *entries_.back()->gauge;
}

HistogramFamily& MetricsRegistry::AddHistogram(
    const std::string& name, const std::string& help,
    const std::vector<std::string>& labels, const std::vector<double>& bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& e : entries_) {
    if (e->name() == name && e->histogram) return *e->histogram;
  }
  std::vector<double> sorted = bounds;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  auto e = std::make_unique<Entry>();
  e->type = MetricType::kHistogram;
  e->histogram = std::make_unique<HistogramFamily>(name, help, labels, sorted);
  entries_.push_back(std::move(e));
  return *entries_.back()->histogram;
}

void MetricsRegistry::AddCollector(std::function<void()> collect) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collect));
}

std::string MetricsRegistry::Render() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    collectors = collectors_;
  }
  for (const auto& c : collectors) c();

  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& e : entries_) {
    const char* type = e->type == MetricType::kCounter ? "counter"
                       : e->type == MetricType::kGauge ? "gauge"
                                                       : "histogram";
    const std::string& name = e->name();
    const std::string& help = e->counter ? e->counter->help()
                              : e->gauge ? e->gauge->help()
                                         : e->histogram->help();
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(help), "\n",
                    "# TYPE ", name, " ", type, "\n");
    if (e->counter) {
      for (const auto& [values, c] : e->counter->Children()) {
        absl::StrAppend(&out, name, LabelText(e->counter->labels(), values),
                        " ", FormatMetricValue(c->value()), "\n");
      }
    } else if (e->gauge) {
      for (const auto& [values, g] : e->gauge->Children()) {
        absl::StrAppend(&out, name, LabelText(e->gauge->labels(), values), " ",
                        FormatMetricValue(g->value()), "\n");
      }
    } else {
      const auto& labels = e->histogram->labels();
      for (const auto& [values, h] : e->histogram->Children()) {
        const Histogram::Snapshot s = h->Read();
        const auto& bounds = h->bounds();
        for (size_t i = 0; i <= bounds.size(); ++i) {
          const std::string le =
              i < bounds.size() ? FormatMetricValue(bounds[i]) : "+Inf";
          absl::StrAppend(&out, name, "_bucket",
                          LabelText(labels, values, "le", le), " ",
                          s.cumulative[i], "\n");
        }
        absl::StrAppend(&out, name, "_sum", LabelText(labels, values), " ",
                        FormatMetricValue(s.sum), "\n");
        absl::StrAppend(&out, name, "_count", LabelText(labels, values), " ",
                        s.count, "\n");
      }
    }
  }
  return out;
}

}  // namespace headroom::server
