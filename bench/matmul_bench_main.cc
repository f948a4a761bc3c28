// headroom-bench-matmul: the CPU backend's batch-invariant MatMul beside
// OpenBLAS's sgemm on the same shapes and threads: what batch invariance
// costs (or saves) per projection shape.
//
//   headroom-bench-matmul [--n 4096] [--k 4096] [--m 1,8,32,128,512]
//       [--threads 1] [--repeats 5] [--weights-dtype f32|f16|bf16|q8_0]
//
// For each m: best-of-repeats seconds of C[m, n] = A[m, k] W[n, k]^T by each,
// GFLOP/s, weight bytes read per second (the decode bound is set by that)
// and the ratio. With --weights-dtype other than f32, MatMul reads W in that
// dtype (sgemm still reads fp32: the comparison is then of the whole
// product, not of equal bytes). One JSON line per m.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <random>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "runtime/cpu/matmul.h"
#include "runtime/util/thread_pool.h"
#include "tools/cli_args.h"

namespace headroom::bench {
namespace {

template <class F>
double BestSeconds(int repeats, F&& run) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

// `w` in `dtype`, row after row (q8_0: k is a multiple of 32).
std::vector<uint8_t> Stored(runtime::WeightDtype dtype,
                            const std::vector<float>& w) {
  std::vector<uint8_t> out;
  switch (dtype) {
    case runtime::WeightDtype::kF32:
      out.resize(w.size() * 4);
      std::memcpy(out.data(), w.data(), out.size());
      break;
    case runtime::WeightDtype::kF16:
    case runtime::WeightDtype::kBF16:
      out.resize(w.size() * 2);
      for (size_t i = 0; i < w.size(); ++i) {
        const uint16_t h = dtype == runtime::WeightDtype::kF16
                               ? runtime::FloatToHalf(w[i])
                               : runtime::FloatToBFloat16(w[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      break;
    case runtime::WeightDtype::kQ8_0: {
      auto blocks = runtime::QuantizeQ8_0(w, "w");  // random: finite
      out.resize(blocks->size() * sizeof(runtime::Q8_0Block));
      std::memcpy(out.data(), blocks->data(), out.size());
      break;
    }
  }
  return out;
}

absl::Status Run(int argc, char** argv) {
  auto args = tools::CliArgs::Parse(
      argc, argv, 1,
      {{"n"}, {"k"}, {"m"}, {"threads"}, {"repeats"}, {"weights-dtype"}});
  if (!args.ok()) return args.status();
  auto n = args->GetInt("n", 4096);
  auto k = args->GetInt("k", 4096);
  auto threads = args->GetInt("threads", 1);
  auto repeats = args->GetInt("repeats", 5);
  for (const absl::Status& s :
       {n.status(), k.status(), threads.status(), repeats.status()}) {
    if (!s.ok()) return s;
  }
  if (*n < 1 || *k < 1 || *threads < 1 || *repeats < 1) {
    return absl::InvalidArgumentError(
        "--n, --k, --threads and --repeats must be >= 1");
  }
  std::vector<int> ms;
  for (absl::string_view part :
       absl::StrSplit(args->Get("m", "1,8,32,128,512"), ',')) {
    int m = 0;
    if (!absl::SimpleAtoi(part, &m) || m < 1 || m > 65536) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--m: \"%s\" is not a count in 1..65536", part));
    }
    ms.push_back(m);
  }
  auto dtype = runtime::ParseWeightDtype(args->Get("weights-dtype", "f32"));
  if (!dtype.ok()) return dtype.status();
  auto row_bytes = runtime::WeightRowBytes(*dtype, *k);
  if (!row_bytes.ok()) return row_bytes.status();
  const int max_m = *std::max_element(ms.begin(), ms.end());
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> w(int64_t{*n} * *k), a(int64_t{max_m} * *k),
      c(int64_t{max_m} * *n);
  for (float& x : w) x = dist(rng);
  for (float& x : a) x = dist(rng);
  const std::vector<uint8_t> stored = Stored(*dtype, w);
  runtime::cpu::WeightMatrix typed{*dtype, stored.data(), *row_bytes};
  runtime::ThreadPool pool(*threads);
  openblas_set_num_threads(*threads);
  std::cout << absl::StrFormat(
      "n %d, k %d, threads %d, matmul %s, weights %s (%.1f MB)\n", *n, *k,
      *threads, runtime::cpu::MatMulIsa(), runtime::WeightDtypeName(*dtype),
      stored.size() / 1e6);
  for (int m : ms) {
    const double ours = BestSeconds(*repeats, [&] {
      runtime::cpu::MatMul(pool, m, *n, *k, a.data(), *k, typed, c.data(), *n);
    });
    const double blas = BestSeconds(*repeats, [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, *n, *k, 1.0f,
                  a.data(), *k, w.data(), *k, 0.0f, c.data(), *n);
    });
    const double flops = 2.0 * m * *n * *k;
    const double weight_bytes = static_cast<double>(stored.size());
    std::cout << absl::StrFormat(
        "{\"m\": %d, \"matmul_s\": %.6f, \"sgemm_s\": %.6f, "
        "\"matmul_gflops\": %.2f, \"sgemm_gflops\": %.2f, "
        "\"matmul_weight_gb_per_s\": %.2f, \"speedup_vs_sgemm\": %.3f}\n",
        m, ours, blas, flops / ours / 1e9, flops / blas / 1e9,
        weight_bytes / ours / 1e9, blas / ours);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace headroom::bench

int main(int argc, char** argv) {
  return headroom::tools::RunToolMain("headroom-bench-matmul", argc, argv,
                                      headroom::bench::Run);
}
