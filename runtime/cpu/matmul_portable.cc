// MatMul's tiles in portable C++ (8 lanes in an array), for CPUs without
// AVX2 + FMA. Compiled with -ffp-contract=off so that a * b + acc is never
// fused in some tiles and not in others.
#include "runtime/cpu/matmul.h"
#include "runtime/cpu/matmul_tiles.h"
#include "runtime/weight_dtype.h"

namespace headroom::runtime::cpu {
namespace {

struct Portable {
  struct T {
    float lane[8];
  };
  static constexpr int kLanes = 8;
  static T Zero() { return T{}; }
  static T Load(const float* p) {
    T v;
    for (int i = 0; i < 8; ++i) v.lane[i] = p[i];
    return v;
  }
  static T LoadFirst(const float* p, int count) {
    T v{};
    for (int i = 0; i < count; ++i) v.lane[i] = p[i];
    return v;
  }
  static T Fma(const T& a, const T& b, T acc) {
    for (int i = 0; i < 8; ++i) acc.lane[i] += a.lane[i] * b.lane[i];
    return acc;
  }
  static float Sum(const T& v) {
    const float s0 = (v.lane[0] + v.lane[4]) + (v.lane[2] + v.lane[6]);
    const float s1 = (v.lane[1] + v.lane[5]) + (v.lane[3] + v.lane[7]);
    return s0 + s1;
  }
};

// Weight loaders: each lane converted with the scalar definitions.
template <class Convert>
Portable::T Expand(int count, Convert&& convert) {
  Portable::T v;
  tiles::ExpandLanes<8>(count, convert, v.lane);
  return v;
}

struct F32 {
  static Portable::T Load(const uint8_t* row, int p) {
    return Portable::Load(reinterpret_cast<const float*>(row) + p);
  }
  static Portable::T LoadFirst(const uint8_t* row, int p, int count) {
    return Portable::LoadFirst(reinterpret_cast<const float*>(row) + p, count);
  }
};

template <float (*kConvert)(uint16_t)>
struct Half16 {
  static Portable::T LoadFirst(const uint8_t* row, int p, int count) {
    const auto* h = reinterpret_cast<const uint16_t*>(row) + p;
    return Expand(count, [&](int i) { return kConvert(h[i]); });
  }
  static Portable::T Load(const uint8_t* row, int p) {
    return LoadFirst(row, p, 8);
  }
};

struct Q8 {
  static Portable::T LoadFirst(const uint8_t* row, int p, int count) {
    const auto* block =
        reinterpret_cast<const Q8_0Block*>(row) + p / kQ8_0BlockSize;
    const int offset = p % kQ8_0BlockSize;
    return Expand(count, [&](int i) { return Q8_0Weight(*block, offset + i); });
  }
  static Portable::T Load(const uint8_t* row, int p) {
    return LoadFirst(row, p, 8);
  }
};

template <class L>
void RunAs(int m, int n_begin, int n_end, int k, const float* a, int64_t lda,
           const WeightMatrix& w, float* c, int64_t ldc, bool accumulate) {
  tiles::Run<Portable, L, 2, 2, 4>(m, n_begin, n_end, k, a, lda,
                                   static_cast<const uint8_t*>(w.data),
                                   w.row_bytes, c, ldc, accumulate);
}

}  // namespace

void RunPortable(int m, int n_begin, int n_end, int k, const float* a,
                 int64_t lda, const WeightMatrix& w, float* c, int64_t ldc,
                 bool accumulate) {
  switch (w.dtype) {
    case WeightDtype::kF32:
      return RunAs<F32>(m, n_begin, n_end, k, a, lda, w, c, ldc, accumulate);
    case WeightDtype::kBF16:
      return RunAs<Half16<&BFloat16ToFloat>>(m, n_begin, n_end, k, a, lda, w, c,
                                             ldc, accumulate);
    case WeightDtype::kF16:
      return RunAs<Half16<&HalfToFloat>>(m, n_begin, n_end, k, a, lda, w, c,
                                         ldc, accumulate);
    case WeightDtype::kQ8_0:
      return RunAs<Q8>(m, n_begin, n_end, k, a, lda, w, c, ldc, accumulate);
  }
}

}  // namespace headroom::runtime::cpu
