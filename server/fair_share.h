// FairShare: weighted fair sharing of generated tokens between tenants, as
// the engine's WaitingOrderHook (server/engine/scheduler.h).
//
// Each tenant has a virtual token counter, vtime = tokens served / weight.
// Waiting sequences are admitted in order of (priority desc, then the
// tenant's projected vtime asc, then arrival): the k-th waiting sequence of
// tenant T (k = 0, 1, ...) is keyed vtime_T + k * quantum / weight_T, so a
// step that frees several slots spreads them across tenants in proportion to
// their weights instead of handing them all to the tenant furthest behind.
// Over a busy window each tenant's tokens approach weight_T / sum(weights)
// of the total (a flooding tenant cannot starve the others: its vtime grows
// faster than theirs).
//
// A tenant that was idle has its vtime lifted to the smallest vtime of the
// active tenants when it becomes active again (start-time fair queuing), so
// idle time is not banked as credit.
//
//   FairShare fair({{"a", 1.0}, {"b", 2.0}});
//   options.reorder_waiting = [&fair](auto& w) { fair.Order(w); };
//   fair.RequestStarted("a"); ... fair.Charge("a", 1); ...
//   fair.RequestEnded("a");
#ifndef HEADROOM_SERVER_FAIR_SHARE_H_
#define HEADROOM_SERVER_FAIR_SHARE_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "server/engine/scheduler.h"

namespace headroom::server {

class FairShare {
 public:
  // Weights by tenant name (> 0); unknown tenants weigh 1. `quantum_tokens`
  // is the expected cost of one request, used to interleave admissions.
  explicit FairShare(std::map<std::string, double> weights,
                     double quantum_tokens = 16.0);

  // Thread-safe, all of them.
  void RequestStarted(const std::string& tenant);
  void RequestEnded(const std::string& tenant);
  void Charge(const std::string& tenant, int64_t tokens);
  double VirtualTime(const std::string& tenant) const;

  // The hook: reorders the waiting sequences (called on the engine thread).
  void Order(std::vector<SequenceView>& waiting) const;

 private:
  struct Tenant {
    double weight = 1.0;
    double vtime = 0.0;  // tokens served / weight
    int active = 0;      // requests in flight
  };
  Tenant& Get(const std::string& name);  // mu_ held

  mutable std::mutex mu_;
  std::map<std::string, Tenant> tenants_;
  double quantum_;
};

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_FAIR_SHARE_H_
