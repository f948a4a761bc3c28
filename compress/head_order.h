// Head regrouping (method.md, "beyond the paper" item 3): which original KV
// heads of a layer share a group. A layer's order is a permutation of its n
// KV heads: slot p of the regrouped layer holds original head order[p], so
// group i holds order[it .. it+t-1]. The permutation is folded exactly into
// W_Q, W_K, W_V and W_O (the query heads reading a KV head move with it),
// and the calibration statistics are permuted the same way, so every
// method then works on contiguous groups unchanged.
#ifndef HEADROOM_COMPRESS_HEAD_ORDER_H_
#define HEADROOM_COMPRESS_HEAD_ORDER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "compress/calibration.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_weights.h"

namespace headroom::compress {

// OK when `order` is a permutation of 0..n-1; else an error naming `what`.
absl::Status CheckHeadOrder(const std::vector<int>& order, int n,
                            const std::string& what);

bool IsIdentityOrder(const std::vector<int>& order);

// Reorders the KV heads of an uncompressed layer (and the query heads that
// read them): rows of W_K, W_V, W_Q and columns of W_O move as blocks, so
// every head computes what it did (see docs/compression.md for why the
// model is the same function).
absl::Status PermuteKvHeads(const runtime::ModelConfig& config,
                            const std::vector<int>& order, int layer,
                            runtime::LayerWeights* weights);

// The statistics of a layer whose KV heads were reordered by `order`.
LayerStats PermuteLayerStats(const runtime::ModelConfig& config,
                             const LayerStats& stats,
                             const std::vector<int>& order);

// Chooses groups of t = n / g heads that keep the most calibration energy:
// the energy lost by merging each pair of heads (svd-a on keys plus values,
// relative to the pair's energy) is computed once; each group is seeded
// with the cheapest remaining pair and grown with the head of the lowest
// summed pair loss to its members. Returns the identity when the greedy
// partition keeps no more energy than the contiguous one (and when t is 1
// or n, where there is nothing to choose).
absl::StatusOr<std::vector<int>> ChooseHeadOrder(
    const runtime::ModelConfig& config, const LayerStats& stats, int g);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_HEAD_ORDER_H_
