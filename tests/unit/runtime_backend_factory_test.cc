// Choosing a backend by name: parsing, KV bytes per device, and the error
// for cuda in a build without the CUDA backend.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/backend_factory.h"

namespace headroom::runtime {
namespace {

using ::testing::HasSubstr;

TEST(BackendFactoryTest, ParsesDevicesAndDtypes) {
  EXPECT_EQ(*ParseDevice("cpu"), Device::kCpu);
  EXPECT_EQ(*ParseDevice("cuda"), Device::kCuda);
  auto bad = ParseDevice("gpu");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("device: unknown device \"gpu\" (cpu or cuda)"));
  EXPECT_EQ(*ParseLowPrecision("float16"), LowPrecision::kFloat16);
  EXPECT_EQ(*ParseLowPrecision("bf16"), LowPrecision::kBFloat16);
  EXPECT_THAT(std::string(ParseLowPrecision("fp8").status().message()),
              HasSubstr("dtype: unknown dtype \"fp8\""));
  EXPECT_STREQ(DeviceName(Device::kCuda), "cuda");
  EXPECT_STREQ(LowPrecisionName(LowPrecision::kBFloat16), "bfloat16");
}

TEST(BackendFactoryTest, KvPagesAreHalfTheBytesOnCuda) {
  ModelConfig c;
  c.n_layers = 2;
  c.n_kv_heads = 8;
  c.head_dim = 16;
  c.cache_kv_heads = {4, 2};
  // 2 (K and V) * (4 + 2) heads * 16 values * 16 tokens.
  EXPECT_EQ(KvBytesPerBlock(c, 16, Device::kCpu), 2 * 6 * 16 * 16 * 4);
  EXPECT_EQ(KvBytesPerBlock(c, 16, Device::kCuda), 2 * 6 * 16 * 16 * 2);
}

TEST(BackendFactoryTest, CudaWithoutTheBackendIsAClearError) {
  if (CudaBackendBuilt()) {
    GTEST_SKIP() << "this build has the CUDA backend (cuda_backend_test "
                    "checks the no-device error)";
  }
  ModelWeights w;  // never reached: the build check comes first
  auto backend = CreateBackend(Device::kCuda, std::move(w), {});
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(backend.status().message()),
              HasSubstr("has no CUDA backend"));
}

}  // namespace
}  // namespace headroom::runtime
