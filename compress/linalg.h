// Dense linear algebra in float64 through LAPACK (OpenBLAS's LAPACKE):
// symmetric and Hermitian eigenproblems (dsyevd / zheevd) and symmetric
// positive-definite solves (dposv) for least squares via normal equations.
#ifndef HEADROOM_COMPRESS_LINALG_H_
#define HEADROOM_COMPRESS_LINALG_H_

#include <complex>
#include <vector>

#include "absl/status/statusor.h"

namespace headroom::compress {

// Eigen-decomposition of a symmetric n x n matrix (row-major; only its
// symmetry is used). values: descending. vectors: row k (n values) is the
// unit eigenvector of values[k].
struct SymmetricEigen {
  std::vector<double> values;
  std::vector<double> vectors;  // [n, n]
};
absl::StatusOr<SymmetricEigen> EigenSymmetric(int n, std::vector<double> a);

// Same for a Hermitian n x n matrix.
struct HermitianEigen {
  std::vector<double> values;
  std::vector<std::complex<double>> vectors;  // [n, n], row k = vector k
};
absl::StatusOr<HermitianEigen> EigenHermitian(
    int n, std::vector<std::complex<double>> a);

// Solves A X = B for a symmetric positive-definite A (n x n, row-major) and
// B (n x m, row-major); returns X (n x m, row-major).
absl::StatusOr<std::vector<double>> SolveSpd(int n, std::vector<double> a,
                                             int m, std::vector<double> b);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_LINALG_H_
