#include "server/fair_share.h"

#include <algorithm>
#include <limits>

namespace headroom::server {

FairShare::FairShare(std::map<std::string, double> weights,
                     double quantum_tokens)
    : quantum_(quantum_tokens) {
  for (const auto& [name, w] : weights) tenants_[name].weight = w > 0 ? w : 1;
}

FairShare::Tenant& FairShare::Get(const std::string& name) {
  return tenants_[name];  // a new tenant: weight 1, vtime 0
}

void FairShare::RequestStarted(const std::string& tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  Tenant& t = Get(tenant);
  if (t.active == 0) {
    double floor = std::numeric_limits<double>::infinity();
    for (const auto& [name, other] : tenants_) {
      if (other.active > 0) floor = std::min(floor, other.vtime);
    }
    if (floor != std::numeric_limits<double>::infinity()) {
      t.vtime = std::max(t.vtime, floor);
    }
  }
  ++t.active;
}

void FairShare::RequestEnded(const std::string& tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  Tenant& t = Get(tenant);
  if (t.active > 0) --t.active;
}

void FairShare::Charge(const std::string& tenant, int64_t tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  Tenant& t = Get(tenant);
  t.vtime += static_cast<double>(tokens) / t.weight;
}

double FairShare::VirtualTime(const std::string& tenant) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? 0.0 : it->second.vtime;
}

void FairShare::Order(std::vector<SequenceView>& waiting) const {
  // The sequences arrive in (priority desc, arrival asc) order; keys are
  // assigned per tenant in that order.
  std::vector<double> key(waiting.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, int> seen;
    for (size_t i = 0; i < waiting.size(); ++i) {
      const std::string& name = waiting[i].tenant;
      auto it = tenants_.find(name);
      const double weight = it == tenants_.end() ? 1.0 : it->second.weight;
      const double vtime = it == tenants_.end() ? 0.0 : it->second.vtime;
      key[i] = vtime + seen[name]++ * quantum_ / weight;
    }
  }
  std::vector<size_t> order(waiting.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (waiting[a].priority != waiting[b].priority) {
      return waiting[a].priority > waiting[b].priority;
    }
    if (key[a] != key[b]) return key[a] < key[b];
    return waiting[a].arrival < waiting[b].arrival;
  });
  std::vector<SequenceView> sorted;
  sorted.reserve(waiting.size());
  for (size_t i : order) sorted.push_back(std::move(waiting[i]));
  waiting.swap(sorted);
}

}  // namespace headroom::server
