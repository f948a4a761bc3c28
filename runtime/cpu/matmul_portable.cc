// MatMul's tiles in portable C++ (8 lanes in an array), for CPUs without
// AVX2 + FMA. Compiled with -ffp-contract=off so that a * b + acc is never
// fused in some tiles and not in others.
#include "runtime/cpu/matmul.h"
#include "runtime/cpu/matmul_tiles.h"

namespace headroom::runtime::cpu {
namespace {

struct Portable {
  struct T {
    float lane[8];
  };
  static constexpr int kLanes = 8;
  static T Zero() { return T{}; }
  static T Load(const float* p) { return LoadFirst(p, 8); }
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
  static T LoadBf16(const uint16_t* h) {
    T v;
    for (int i = 0; i < 8; ++i) v.lane[i] = BFloat16ToFloat(h[i]);
    return v;
  }
  static T LoadHalf(const uint16_t* h) {
    T v;
    for (int i = 0; i < 8; ++i) v.lane[i] = HalfToFloat(h[i]);
    return v;
  }
  static T LoadQ8(const int8_t* q, uint16_t scale) {
    const float d = HalfToFloat(scale);
    T v;
    for (int i = 0; i < 8; ++i) v.lane[i] = static_cast<float>(q[i]) * d;
    return v;
  }
};

}  // namespace

void RunPortable(int m, int n_begin, int n_end, int k, const float* a,
                 int64_t lda, const WeightMatrix& w, float* c, int64_t ldc,
                 bool accumulate) {
  tiles::RunAnyDtype<Portable, 2, 2, 4>(m, n_begin, n_end, k, a, lda, w.dtype,
                                        w.data, w.row_bytes, c, ldc,
                                        accumulate);
}

}  // namespace headroom::runtime::cpu
