// The two inner loops of CPU attention as templates over a vector ISA V
// (simd_x86.h): the scores of `heads` cache heads' GQA groups of queries
// against a run of cached positions, and the probability-weighted sums of
// the matching cached values. Include only from an attention_<isa>.cc built
// for V's ISA.
//
// Both walk the positions in order and, at each, the heads' keys or values
// side by side, so they read the cache rows front to back (a cache row
// holds every head of one position; reading one head down a page instead
// touches a new 4 KiB page per position, which the prefetchers do not
// follow).
//
// Batch invariance (attention_kernels.h): every score is one dot product
// with one vector accumulator, d ascending in vector steps, a zero-masked
// last step and V's fixed horizontal sum; every output of the weighted sum
// is updated once per position, positions ascending, by one fused
// multiply-add. Neither depends on the tile an output falls in, so a score
// or an output has the same bits whatever the count, the heads, the group
// or the page split.
#ifndef HEADROOM_RUNTIME_CPU_ATTENTION_TILES_H_
#define HEADROOM_RUNTIME_CPU_ATTENTION_TILES_H_

#include <algorithm>
#include <cstdint>

namespace headroom::runtime::cpu::attention_tiles {

// Rows this far ahead of the one being read are prefetched (the part of
// them the kernel reads), so a run of heads that is not a whole cache row
// still streams.
inline constexpr int kPrefetchRows = 4;

// Asks for the cache lines of x[0, n) (prefetching changes no value).
inline void PrefetchFloats(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    __builtin_prefetch(x + i, /*rw=*/0, /*locality=*/3);
  }
}

// out[u] = q[u] . k[u] over d values, for R (query, key) pairs at once.
template <typename V, int R>
inline void DotTile(int d, const float* const* q, const float* const* k,
                    float* const* out) {
  constexpr int L = V::kLanes;
  // The loops over R are unrolled so the accumulators live in registers
  // (without the pragmas GCC keeps them on the stack).
  typename V::T acc[R];
#pragma GCC unroll 8
  for (int u = 0; u < R; ++u) acc[u] = V::Zero();
  int i = 0;
  for (; i + L <= d; i += L) {
#pragma GCC unroll 8
    for (int u = 0; u < R; ++u) {
      acc[u] = V::Fma(V::Load(q[u] + i), V::Load(k[u] + i), acc[u]);
    }
  }
  if (i < d) {
#pragma GCC unroll 8
    for (int u = 0; u < R; ++u) {
      acc[u] = V::Fma(V::LoadFirst(q[u] + i, d - i),
                      V::LoadFirst(k[u] + i, d - i), acc[u]);
    }
  }
#pragma GCC unroll 8
  for (int u = 0; u < R; ++u) *out[u] = V::Sum(acc[u]);
}

// scores[u * ld + r] = q_u . k_{r, u / group} for query rows
// u < heads * group (q_u = q + u * d) and positions r < count
// (k_{r, c} = k + r * k_stride + c * d).
template <typename V>
void Scores(int heads, int group, int count, int d, const float* q,
            const float* k, int64_t k_stride, float* scores, int64_t ld) {
  constexpr int R = 4;
  const int rows = heads * group;
  for (int r = 0; r < count; ++r) {
    const float* kr = k + r * k_stride;
    if (r + kPrefetchRows < count) {
      PrefetchFloats(kr + kPrefetchRows * k_stride, int64_t{heads} * d);
    }
    const float* qs[R];
    const float* ks[R];
    float* outs[R];
    int u = 0;
    for (; u + R <= rows; u += R) {
#pragma GCC unroll 8
      for (int x = 0; x < R; ++x) {
        qs[x] = q + int64_t{u + x} * d;
        ks[x] = kr + int64_t{(u + x) / group} * d;
        outs[x] = scores + (u + x) * ld + r;
      }
      DotTile<V, R>(d, qs, ks, outs);
    }
    for (; u < rows; ++u) {
      qs[0] = q + int64_t{u} * d;
      ks[0] = kr + int64_t{u / group} * d;
      outs[0] = scores + u * ld + r;
      DotTile<V, 1>(d, qs, ks, outs);
    }
  }
}

// out_u[0, d) += p_u[r] * v_{r, u / group}[0, d) for the `group` query rows
// u of one cache head, from one value row `vr`.
template <typename V>
inline void AddWeightedRow(int group, int d, const float* p, int64_t ld,
                           const float* vr, float* out) {
  constexpr int L = V::kLanes;
  int i = 0;
  for (; i + L <= d; i += L) {
    const typename V::T vv = V::Load(vr + i);
    for (int j = 0; j < group; ++j) {
      float* o = out + int64_t{j} * d + i;
      V::Store(o, V::Fma(V::Set1(p[j * ld]), vv, V::Load(o)));
    }
  }
  if (i < d) {
    const typename V::T vv = V::LoadFirst(vr + i, d - i);
    for (int j = 0; j < group; ++j) {
      float* o = out + int64_t{j} * d + i;
      V::StoreFirst(o, V::Fma(V::Set1(p[j * ld]), vv, V::LoadFirst(o, d - i)),
                    d - i);
    }
  }
}

// out[u * d + i] += sum over r < count, ascending, of
// p[u * ld + r] * v_{r, u / group}[i], v_{r, c} = v + r * v_stride + c * d.
template <typename V>
void WeightedSum(int heads, int group, int count, int d, const float* p,
                 int64_t ld, const float* v, int64_t v_stride, float* out) {
  for (int r = 0; r < count; ++r) {
    const float* vr = v + r * v_stride;
    if (r + kPrefetchRows < count) {
      PrefetchFloats(vr + kPrefetchRows * v_stride, int64_t{heads} * d);
    }
    for (int c = 0; c < heads; ++c) {
      const int64_t u = int64_t{c} * group;
      AddWeightedRow<V>(group, d, p + u * ld + r, ld, vr + int64_t{c} * d,
                        out + u * d);
    }
  }
}

}  // namespace headroom::runtime::cpu::attention_tiles

#endif  // HEADROOM_RUNTIME_CPU_ATTENTION_TILES_H_
