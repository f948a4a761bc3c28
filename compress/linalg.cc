#include "compress/linalg.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

// LAPACKE's complex type must be std::complex in C++.
#define lapack_complex_float std::complex<float>
#define lapack_complex_double std::complex<double>
#include <lapacke.h>

namespace headroom::compress {

absl::StatusOr<SymmetricEigen> EigenSymmetric(int n, std::vector<double> a) {
  if (n <= 0 || static_cast<int64_t>(a.size()) != int64_t{n} * n) {
    return absl::InvalidArgumentError(absl::StrCat("EigenSymmetric: matrix of ",
                                                   a.size(), " values is not ",
                                                   n, " x ", n));
  }
  std::vector<double> w(n);
  // Row-major symmetric == column-major symmetric; eigenvectors come back as
  // the columns of the column-major result, i.e. contiguous rows here.
  const lapack_int info =
      LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', n, a.data(), n, w.data());
  if (info != 0) {
    return absl::InternalError(absl::StrCat("LAPACKE_dsyevd failed with info ",
                                            info, " (n = ", n, ")"));
  }
  SymmetricEigen r;
  r.values.resize(n);
  r.vectors.resize(a.size());
  for (int k = 0; k < n; ++k) {  // LAPACK returns ascending order
    const int src = n - 1 - k;
    r.values[k] = w[src];
    std::copy(a.begin() + int64_t{src} * n, a.begin() + int64_t{src + 1} * n,
              r.vectors.begin() + int64_t{k} * n);
  }
  return r;
}

absl::StatusOr<HermitianEigen> EigenHermitian(
    int n, std::vector<std::complex<double>> a) {
  if (n <= 0 || static_cast<int64_t>(a.size()) != int64_t{n} * n) {
    return absl::InvalidArgumentError(absl::StrCat("EigenHermitian: matrix of ",
                                                   a.size(), " values is not ",
                                                   n, " x ", n));
  }
  // Row-major A is column-major A^T = conj(A) for a Hermitian matrix; take
  // the conjugate first so LAPACK sees A itself.
  for (auto& v : a) v = std::conj(v);
  std::vector<double> w(n);
  const lapack_int info =
      LAPACKE_zheevd(LAPACK_COL_MAJOR, 'V', 'U', n, a.data(), n, w.data());
  if (info != 0) {
    return absl::InternalError(absl::StrCat("LAPACKE_zheevd failed with info ",
                                            info, " (n = ", n, ")"));
  }
  HermitianEigen r;
  r.values.resize(n);
  r.vectors.resize(a.size());
  for (int k = 0; k < n; ++k) {
    const int src = n - 1 - k;
    r.values[k] = w[src];
    std::copy(a.begin() + int64_t{src} * n, a.begin() + int64_t{src + 1} * n,
              r.vectors.begin() + int64_t{k} * n);
  }
  return r;
}

absl::StatusOr<std::vector<double>> SolveSpd(int n, std::vector<double> a,
                                             int m, std::vector<double> b) {
  if (static_cast<int64_t>(a.size()) != int64_t{n} * n ||
      static_cast<int64_t>(b.size()) != int64_t{n} * m) {
    return absl::InvalidArgumentError("SolveSpd: shapes do not match");
  }
  const lapack_int info =
      LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', n, m, a.data(), n, b.data(), m);
  if (info != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("LAPACKE_dposv failed with info ", info,
                     " (matrix not positive definite; n = ", n, ")"));
  }
  return b;
}

}  // namespace headroom::compress
