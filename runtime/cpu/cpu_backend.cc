#include "runtime/cpu/cpu_backend.h"

#include <cblas.h>

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/cpu/cpu_ops.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/decoder.h"

namespace headroom::runtime {

absl::StatusOr<std::unique_ptr<DeviceOps>> CreateCpuOps(
    ModelWeights weights, const BackendOptions& options) {
  if (auto s = weights.Validate(); !s.ok()) return s;
  if (options.num_threads <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpu backend: num_threads must be positive, got ",
                     options.num_threads));
  }
  if (options.block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cpu backend: block_size must be positive, got ", options.block_size));
  }
  KvCacheOptions kv;
  kv.block_size = options.block_size;
  kv.num_blocks = options.num_blocks > 0
                      ? options.num_blocks
                      : BlocksForContext(weights.config, options.block_size);
  auto cache = KvCache::Create(weights.config, kv);
  if (!cache.ok()) return cache.status();
  openblas_set_num_threads(options.num_threads);
  return std::make_unique<cpu::CpuOps>(std::move(weights), std::move(*cache),
                                       options.num_threads);
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCpuBackend(
    ModelWeights weights, const BackendOptions& options) {
  auto ops = CreateCpuOps(std::move(weights), options);
  if (!ops.ok()) return ops.status();
  return CreateDecoder(std::move(*ops));
}

}  // namespace headroom::runtime
