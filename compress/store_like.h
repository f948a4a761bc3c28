// Writing folded fp32 matrices back in the dtype the model was loaded in
// (the transformation is computed in fp32 and served as the model was).
#ifndef HEADROOM_COMPRESS_STORE_LIKE_H_
#define HEADROOM_COMPRESS_STORE_LIKE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "runtime/weights/tensor.h"

namespace headroom::compress {

// Replaces *dst by `values` [rows, cols] stored in dst's dtype; errors name
// layers.<layer>.<name>.
absl::Status StoreLike(std::vector<float> values, int64_t rows, int64_t cols,
                       runtime::Tensor* dst, int layer, const char* name);

}  // namespace headroom::compress

#endif  // HEADROOM_COMPRESS_STORE_LIKE_H_
