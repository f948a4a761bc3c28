#include "compress/store_like.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace headroom::compress {

absl::Status StoreLike(std::vector<float> values, int64_t rows, int64_t cols,
                       runtime::Tensor* dst, int layer, const char* name) {
  if (dst->dtype() == runtime::WeightDtype::kF32) {
    *dst = runtime::Tensor::FromF32(std::move(values), rows, cols);
    return absl::OkStatus();
  }
  auto t =
      runtime::Tensor::FromFloat(values, rows, cols, dst->dtype(),
                                 absl::StrCat("layers.", layer, ".", name));
  if (!t.ok()) return t.status();
  *dst = *std::move(t);
  return absl::OkStatus();
}

}  // namespace headroom::compress
