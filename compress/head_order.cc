#include "compress/head_order.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "compress/linalg.h"
#include "compress/store_like.h"

namespace headroom::compress {
namespace {

// Row blocks of `block_rows` rows: new block p = old block order[p].
absl::Status PermuteRowBlocks(const std::vector<int>& order, int64_t block_rows,
                              runtime::Tensor* t, int layer, const char* name) {
  const runtime::Tensor f = t->AsF32();
  const int64_t cols = f.cols();
  std::vector<float> out(f.numel());
  for (size_t p = 0; p < order.size(); ++p) {
    std::copy(f.f32() + order[p] * block_rows * cols,
              f.f32() + (order[p] + 1) * block_rows * cols,
              out.begin() + static_cast<int64_t>(p) * block_rows * cols);
  }
  return StoreLike(std::move(out), f.rows(), cols, t, layer, name);
}

// Column blocks of W_O: new columns of block p = old columns of order[p].
absl::Status PermuteColumnBlocks(const std::vector<int>& order,
                                 int64_t block_cols, runtime::Tensor* t,
                                 int layer) {
  const runtime::Tensor f = t->AsF32();
  const int64_t cols = f.cols();
  std::vector<float> out(f.numel());
  for (int64_t r = 0; r < f.rows(); ++r) {
    for (size_t p = 0; p < order.size(); ++p) {
      const float* src = f.f32() + r * cols + order[p] * block_cols;
      std::copy(src, src + block_cols,
                out.begin() + r * cols + static_cast<int64_t>(p) * block_cols);
    }
  }
  return StoreLike(std::move(out), f.rows(), cols, t, layer, "wo");
}

// 1 - (top-d eigenvalue sum) / trace of a symmetric block: the energy
// fraction svd-a loses when merging the heads the block covers into one.
absl::StatusOr<double> MergeLoss(int d, const std::vector<double>& block,
                                 int size) {
  double trace = 0.0;
  for (int i = 0; i < size; ++i) trace += block[int64_t{i} * size + i];
  if (trace <= 0.0) return 0.0;
  auto eig = EigenSymmetric(size, block);
  if (!eig.ok()) return eig.status();
  double kept = 0.0;
  for (int k = 0; k < d; ++k) kept += eig->values[k];
  return std::max(0.0, 1.0 - kept / trace);
}

// Sub-block of a [n d, n d] moment over the heads `heads`.
std::vector<double> HeadsBlock(const std::vector<double>& c, int n, int d,
                               const std::vector<int>& heads) {
  const int size = static_cast<int>(heads.size()) * d, nd = n * d;
  std::vector<double> b(int64_t{size} * size);
  for (int a = 0; a < size; ++a) {
    const int ra = heads[a / d] * d + a % d;
    for (int bcol = 0; bcol < size; ++bcol) {
      const int rb = heads[bcol / d] * d + bcol % d;
      b[int64_t{a} * size + bcol] = c[int64_t{ra} * nd + rb];
    }
  }
  return b;
}

// Keys plus values: what merging `heads` loses.
absl::StatusOr<double> GroupLoss(const runtime::ModelConfig& c,
                                 const LayerStats& st,
                                 const std::vector<int>& heads) {
  const int n = c.n_kv_heads, d = c.head_dim,
            size = static_cast<int>(heads.size()) * d;
  auto k = MergeLoss(d, HeadsBlock(st.key_second_moment, n, d, heads), size);
  if (!k.ok()) return k.status();
  auto v = MergeLoss(d, HeadsBlock(st.value_second_moment, n, d, heads), size);
  if (!v.ok()) return v.status();
  return *k + *v;
}

absl::StatusOr<double> PartitionLoss(const runtime::ModelConfig& c,
                                     const LayerStats& st,
                                     const std::vector<int>& order, int t) {
  double total = 0.0;
  for (size_t i = 0; i < order.size(); i += t) {
    auto loss = GroupLoss(
        c, st, std::vector<int>(order.begin() + i, order.begin() + i + t));
    if (!loss.ok()) return loss.status();
    total += *loss;
  }
  return total;
}

}  // namespace

absl::Status CheckHeadOrder(const std::vector<int>& order, int n,
                            const std::string& what) {
  if (static_cast<int>(order.size()) != n) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has ", order.size(),
                                                   " entries; the layer has ",
                                                   n, " KV heads"));
  }
  std::vector<bool> seen(n, false);
  for (int v : order) {
    if (v < 0 || v >= n || seen[v]) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " is not a permutation of 0..", n - 1, " (entry ", v, ")"));
    }
    seen[v] = true;
  }
  return absl::OkStatus();
}

bool IsIdentityOrder(const std::vector<int>& order) {
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i] != static_cast<int>(i)) return false;
  }
  return true;
}

namespace {

// Block a of `v` := block order[a] (blocks of `block` values); no-op on an
// empty vector (a model without that bias).
void PermuteVectorBlocks(const std::vector<int>& order, int64_t block,
                         std::vector<float>* v) {
  if (v->empty()) return;
  const std::vector<float> src = *v;
  for (size_t a = 0; a < order.size(); ++a) {
    std::copy(src.begin() + order[a] * block,
              src.begin() + (order[a] + 1) * block, v->begin() + a * block);
  }
}

}  // namespace

absl::Status PermuteKvHeads(const runtime::ModelConfig& c,
                            const std::vector<int>& order, int layer,
                            runtime::LayerWeights* lw) {
  const int n = c.n_kv_heads, d = c.head_dim, r = c.n_heads / n;
  if (auto s =
          CheckHeadOrder(order, n, absl::StrCat("layers.", layer, ".kv_order"));
      !s.ok())
    return s;
  if (lw->has_post_rope_proj() || lw->wk.rows() != int64_t{n} * d ||
      lw->wv.rows() != int64_t{n} * d) {
    return absl::FailedPreconditionError(
        absl::StrCat("layer ", layer,
                     ": KV heads can only be reordered before compression"));
  }
  if (IsIdentityOrder(order)) return absl::OkStatus();
  if (auto s = PermuteRowBlocks(order, d, &lw->wk, layer, "wk"); !s.ok())
    return s;
  if (auto s = PermuteRowBlocks(order, d, &lw->wv, layer, "wv"); !s.ok())
    return s;
  // Query heads r*o .. r*o+r-1 read KV head o: they move as one block.
  if (auto s = PermuteRowBlocks(order, int64_t{r} * d, &lw->wq, layer, "wq");
      !s.ok())
    return s;
  // Biases move with their rows (Qwen2, LLaMA attention_bias).
  PermuteVectorBlocks(order, d, &lw->bk);
  PermuteVectorBlocks(order, d, &lw->bv);
  PermuteVectorBlocks(order, int64_t{r} * d, &lw->bq);
  return PermuteColumnBlocks(order, int64_t{r} * d, &lw->wo, layer);
}

LayerStats PermuteLayerStats(const runtime::ModelConfig& c,
                             const LayerStats& st,
                             const std::vector<int>& order) {
  const int n = c.n_kv_heads, d = c.head_dim, nd = n * d, P = d / 2;
  LayerStats out = st;
  for (auto [src, dst] :
       {std::pair{&st.key_second_moment, &out.key_second_moment},
        std::pair{&st.value_second_moment, &out.value_second_moment}}) {
    for (int a = 0; a < nd; ++a) {
      const int ra = order[a / d] * d + a % d;
      for (int b = 0; b < nd; ++b) {
        const int rb = order[b / d] * d + b % d;
        (*dst)[int64_t{a} * nd + b] = (*src)[int64_t{ra} * nd + rb];
      }
    }
  }
  for (int p = 0; p < P; ++p) {
    for (int a = 0; a < n; ++a) {
      for (int b = 0; b < n; ++b) {
        out.key_pair_second_moment[(int64_t{p} * n + a) * n + b] =
            st.key_pair_second_moment[(int64_t{p} * n + order[a]) * n +
                                      order[b]];
      }
    }
  }
  for (int a = 0; a < n; ++a) {
    std::copy(st.query_second_moment.begin() + int64_t{order[a]} * d * d,
              st.query_second_moment.begin() + int64_t{order[a] + 1} * d * d,
              out.query_second_moment.begin() + int64_t{a} * d * d);
    std::copy(st.query_pair_power.begin() + int64_t{order[a]} * P,
              st.query_pair_power.begin() + int64_t{order[a] + 1} * P,
              out.query_pair_power.begin() + int64_t{a} * P);
  }
  return out;
}

absl::StatusOr<std::vector<int>> ChooseHeadOrder(const runtime::ModelConfig& c,
                                                 const LayerStats& st, int g) {
  const int n = c.n_kv_heads;
  std::vector<int> identity(n);
  for (int i = 0; i < n; ++i) identity[i] = i;
  if (g <= 0 || n % g != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("regrouping: ", g, " KV heads do not divide ", n));
  }
  const int t = n / g;
  if (t == 1 || g == 1) return identity;
  std::vector<double> pair(int64_t{n} * n, 0.0);
  for (int a = 0; a < n; ++a) {
    for (int b = a + 1; b < n; ++b) {
      auto loss = GroupLoss(c, st, {a, b});
      if (!loss.ok()) return loss.status();
      pair[int64_t{a} * n + b] = pair[int64_t{b} * n + a] = *loss;
    }
  }
  std::vector<bool> used(n, false);
  std::vector<std::vector<int>> groups;
  for (int i = 0; i < g; ++i) {
    int best_a = -1, best_b = -1;
    double best = std::numeric_limits<double>::infinity();
    for (int a = 0; a < n; ++a) {
      for (int b = a + 1; b < n; ++b) {
        if (!used[a] && !used[b] && pair[int64_t{a} * n + b] < best) {
          best = pair[int64_t{a} * n + b];
          best_a = a;
          best_b = b;
        }
      }
    }
    std::vector<int> group = {best_a, best_b};
    used[best_a] = used[best_b] = true;
    while (static_cast<int>(group.size()) < t) {
      int pick = -1;
      double pick_loss = std::numeric_limits<double>::infinity();
      for (int x = 0; x < n; ++x) {
        if (used[x]) continue;
        double sum = 0.0;
        for (int m : group) sum += pair[int64_t{x} * n + m];
        if (sum < pick_loss) {
          pick_loss = sum;
          pick = x;
        }
      }
      group.push_back(pick);
      used[pick] = true;
    }
    std::sort(group.begin(), group.end());
    groups.push_back(std::move(group));
  }
  // Canonical: groups by their first head (ties in the greedy do not move
  // the result).
  std::sort(groups.begin(), groups.end());
  std::vector<int> order;
  for (const auto& group : groups) {
    order.insert(order.end(), group.begin(), group.end());
  }
  auto greedy = PartitionLoss(c, st, order, t);
  if (!greedy.ok()) return greedy.status();
  auto contiguous = PartitionLoss(c, st, identity, t);
  if (!contiguous.ok()) return contiguous.status();
  return *greedy < *contiguous ? order : identity;
}

}  // namespace headroom::compress
