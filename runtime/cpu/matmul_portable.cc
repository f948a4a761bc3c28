// MatMul's tiles in portable C++ (8 lanes in an array), for CPUs without
// AVX2 + FMA. Compiled with -ffp-contract=off so that a * b + acc is never
// fused in some tiles and not in others.
#include "runtime/cpu/matmul.h"
#include "runtime/cpu/matmul_q8_tiles.h"
#include "runtime/cpu/matmul_tiles.h"

namespace headroom::runtime::cpu {
namespace {

// (l0 + l4) + (l2 + l6) + ((l1 + l5) + (l3 + l7)): the order of the AVX2
// kernels' horizontal sum.
float SumOf8(const float* lane) {
  const float s0 = (lane[0] + lane[4]) + (lane[2] + lane[6]);
  const float s1 = (lane[1] + lane[5]) + (lane[3] + lane[7]);
  return s0 + s1;
}

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
  static float Sum(const T& v) { return SumOf8(v.lane); }
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
};

// The q8 dot in plain integers (matmul_q8_tiles.h), not fused.
struct PortableQ8 {
  struct Acc {
    float lane[8];
  };
  using Scale = float;
  struct Weights {
    const int8_t* q;
  };
  using Activations = Weights;
  static Acc Zero() { return Acc{}; }
  static Weights PrepareWeights(const int8_t* q) { return {q}; }
  static Activations PrepareActivations(const int8_t* q) { return {q}; }
  static Scale WeightScale(uint16_t h) { return HalfToFloat(h); }
  static Scale Broadcast(float x) { return x; }
  static Scale Mul(Scale x, Scale y) { return x * y; }
  static Acc Step(Acc acc, Weights w, Activations a, Scale scale) {
    for (int l = 0; l < 8; ++l) {
      int32_t s = 0;
      for (int t = 4 * l; t < 4 * l + 4; ++t) {
        s += int32_t{w.q[t]} * int32_t{a.q[t]};
      }
      acc.lane[l] += static_cast<float>(s) * scale;
    }
    return acc;
  }
  static float Sum(const Acc& v) { return SumOf8(v.lane); }
};

}  // namespace

void RunPortable(const MatMulProblem& p, int n_begin, int n_end) {
  if (p.w.dtype == WeightDtype::kQ8_0) {
    return tiles::RunQ8<PortableQ8, 2, 2>(p, n_begin, n_end);
  }
  tiles::RunFloat<Portable, 2, 2>(p, n_begin, n_end);
}

}  // namespace headroom::runtime::cpu
