// AddBias on the GPU: one fp32 bias vector added to every row of an
// activation, in place.
#include "absl/strings/str_cat.h"
#include "runtime/cuda/cuda_ops.h"
#include "runtime/cuda/cuda_status.h"

namespace headroom::runtime::cuda {

absl::Status CudaOps::AddBias(int layer, Bias bias) {
  const DeviceLayer& dl = layers_[layer];
  const DeviceBuffer* b = nullptr;
  switch (bias) {
    case Bias::kQuery:
      b = &dl.bq;
      break;
    case Bias::kKey:
      b = &dl.bk;
      break;
    case Bias::kValue:
      b = &dl.bv;
      break;
    case Bias::kOutput:
      b = &dl.bo;
      break;
    case Bias::kGate:
      b = &dl.b1;
      break;
    case Bias::kUp:
      b = &dl.b3;
      break;
    case Bias::kDown:
      b = &dl.b2;
      break;
  }
  const Activation target = BiasTarget(bias);
  const ActivationLayout a = Layout(target, layer);
  if (b->get() == nullptr || a.lowp) {
    return absl::FailedPreconditionError(
        absl::StrCat("cuda ops: layer ", layer, " has no ",
                     ActivationName(target), " bias on the device"));
  }
  HEADROOM_CUDA_RETURN_IF_ERROR(cuda::AddBias(
      static_cast<float*>(a.data), a.rows, static_cast<int>(a.cols), a.stride,
      b->as<float>(), stream_.get()));
  return absl::OkStatus();
}

}  // namespace headroom::runtime::cuda
