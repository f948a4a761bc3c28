#include "runtime/backend_factory.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/cpu/cpu_backend.h"
#ifdef HEADROOM_HAVE_CUDA
#include "runtime/cuda/cuda_module.h"
#endif

namespace headroom::runtime {
namespace {

#ifdef HEADROOM_HAVE_CUDA
struct CudaModule {
  HeadroomCudaDeviceCountFn device_count = nullptr;
  HeadroomCudaCreateBackendFn create_backend = nullptr;
};

// Where libheadroom_cuda.so may be: $HEADROOM_CUDA_MODULE, beside the
// executable, ../lib from it (installed), where this build put it, then the
// dynamic loader's search path.
std::vector<std::string> CudaModuleCandidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("HEADROOM_CUDA_MODULE")) {
    out.push_back(env);
  }
  std::error_code ec;
  const std::filesystem::path exe =
      std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back((exe.parent_path() / "libheadroom_cuda.so").string());
    out.push_back(
        (exe.parent_path().parent_path() / "lib" / "libheadroom_cuda.so")
            .string());
  }
  out.push_back(HEADROOM_CUDA_MODULE);
  out.push_back("libheadroom_cuda.so");
  return out;
}

// Loaded on first use and never unloaded: backends it created may live
// until the process exits.
absl::StatusOr<CudaModule> LoadCudaModule() {
  std::string tried;
  for (const std::string& path : CudaModuleCandidates()) {
    if (path.find('/') != std::string::npos && !std::filesystem::exists(path)) {
      continue;
    }
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      absl::StrAppend(&tried, tried.empty() ? "" : "; ", ::dlerror());
      continue;
    }
    CudaModule module;
    module.device_count = reinterpret_cast<HeadroomCudaDeviceCountFn>(
        ::dlsym(handle, "headroom_cuda_device_count"));
    module.create_backend = reinterpret_cast<HeadroomCudaCreateBackendFn>(
        ::dlsym(handle, "headroom_cuda_create_backend"));
    if (module.device_count == nullptr || module.create_backend == nullptr) {
      ::dlclose(handle);
      return absl::FailedPreconditionError(absl::StrCat(
          "device: cuda: ", path, " is not Headroom's CUDA backend module"));
    }
    return module;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "device: cuda was requested but the CUDA backend module "
      "libheadroom_cuda.so could not be loaded (set HEADROOM_CUDA_MODULE to "
      "its path)",
      tried.empty() ? "" : ": ", tried));
}

absl::StatusOr<const CudaModule*> GetCudaModule() {
  static const absl::StatusOr<CudaModule> module = LoadCudaModule();
  if (!module.ok()) return module.status();
  return &*module;
}
#endif

}  // namespace

absl::StatusOr<Device> ParseDevice(std::string_view name) {
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  return absl::InvalidArgumentError(absl::StrCat(
      "device: unknown device \"", std::string(name), "\" (cpu or cuda)"));
}

const char* DeviceName(Device device) {
  return device == Device::kCuda ? "cuda" : "cpu";
}

absl::StatusOr<LowPrecision> ParseLowPrecision(std::string_view name) {
  if (name == "float16" || name == "fp16") return LowPrecision::kFloat16;
  if (name == "bfloat16" || name == "bf16") return LowPrecision::kBFloat16;
  return absl::InvalidArgumentError(absl::StrCat("dtype: unknown dtype \"",
                                                 std::string(name),
                                                 "\" (float16 or bfloat16)"));
}

const char* LowPrecisionName(LowPrecision dtype) {
  return dtype == LowPrecision::kBFloat16 ? "bfloat16" : "float16";
}

bool CudaBackendBuilt() {
#ifdef HEADROOM_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int64_t KvBytesPerValue(Device device) {
  return device == Device::kCuda ? 2 : 4;
}

int64_t KvBytesPerBlock(const ModelConfig& config, int block_size,
                        Device device) {
  return int64_t{block_size} * config.KvValuesPerToken() *
         KvBytesPerValue(device);
}

absl::Status CheckDeviceAvailable(Device device) {
  if (device == Device::kCpu) return absl::OkStatus();
#ifdef HEADROOM_HAVE_CUDA
  auto module = GetCudaModule();
  if (!module.ok()) return module.status();
  if ((*module)->device_count() == 0) {
    return absl::FailedPreconditionError(
        "device: cuda was requested but no CUDA device is present "
        "(cudaGetDeviceCount found none; is the NVIDIA driver loaded and the "
        "GPU visible to this process?)");
  }
  return absl::OkStatus();
#else
  return absl::FailedPreconditionError(
      "device: cuda was requested but this build of Headroom has no CUDA "
      "backend (configure with nvcc present or -DHEADROOM_CUDA=ON)");
#endif
}

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(
    Device device, ModelWeights weights, const BackendOptions& options) {
  if (device == Device::kCpu) {
    return CreateCpuBackend(std::move(weights), options);
  }
  if (auto s = CheckDeviceAvailable(device); !s.ok()) return s;
#ifdef HEADROOM_HAVE_CUDA
  absl::StatusOr<std::unique_ptr<Backend>> result =
      absl::InternalError("cuda module returned nothing");
  (*GetCudaModule())->create_backend(&weights, &options, &result);
  return result;
#else
  return absl::InternalError("unreachable: no CUDA backend in this build");
#endif
}

}  // namespace headroom::runtime
