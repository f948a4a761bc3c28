// Backend: executes the batched forward pass of one model on one device and
// owns that device's copy of the weights and the KV page pools.
//
//   auto backend = CreateCpuBackend(std::move(weights), {.num_blocks = 64});
//   Batch batch;
//   batch.block_tables = {{0, 1}};
//   batch.AddTokens(/*seq=*/0, ids.data(), ids.size(), /*start_pos=*/0,
//                   /*logits_for_last=*/true);
//   std::vector<float> logits;  // [num_outputs, vocab]
//   absl::Status s = backend->Forward(batch, &logits);
//
// Implementations: CpuBackend (runtime/cpu/, OpenBLAS) and CudaBackend
// (runtime/cuda/, cuBLAS + kernels).
#ifndef HEADROOM_RUNTIME_BACKEND_H_
#define HEADROOM_RUNTIME_BACKEND_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/batch.h"
#include "runtime/model/forward_observer.h"
#include "runtime/model/model_config.h"

namespace headroom::runtime {

// Where a backend's step time went, accumulated since the last reset.
struct ForwardProfile {
  int64_t steps = 0;
  int64_t tokens = 0;
  double gemm_seconds = 0.0;       // projections, FFN, classifier
  double attention_seconds = 0.0;  // RoPE, cache writes, paged attention
  double other_seconds = 0.0;      // norms, activations, embedding
};

// Storage type of weights and KV pages on GPU backends (the CPU backend is
// fp32 throughout).
enum class LowPrecision { kFloat16, kBFloat16 };

struct BackendOptions {
  int block_size = 16;  // tokens per KV page
  int num_blocks = 0;   // KV pages; 0 = enough for one full context
  int num_threads = 1;  // CPU threads (GEMMs and attention)
  LowPrecision dtype = LowPrecision::kFloat16;  // GPU backends
  int device_id = 0;                            // GPU backends
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual const ModelConfig& config() const = 0;
  virtual std::string name() const = 0;
  virtual int block_size() const = 0;
  virtual int num_blocks() const = 0;
  // Bytes of KV memory allocated for the page pools.
  virtual int64_t kv_cache_bytes() const = 0;

  // Runs one step: writes the K/V of every batch token into its page, then
  // computes attention and the rest. `logits` receives [num_outputs, vocab]
  // rows in token order. Validates the batch first; on error nothing is
  // written.
  virtual absl::Status Forward(const Batch& batch,
                               std::vector<float>* logits) = 0;

  // Optional: time spent per kind of work (zeros when not measured).
  virtual ForwardProfile profile() const { return {}; }
  virtual void ResetProfile() {}

  // Optional: calls `observer` (not owned; nullptr to stop) for every layer
  // of later steps. Backends without support return Unimplemented.
  virtual absl::Status SetObserver(ForwardObserver* observer) {
    return absl::UnimplementedError(name() + " backend has no observer hook");
  }
};

// KV pages needed to hold one sequence of the full context.
int BlocksForContext(const ModelConfig& config, int block_size);

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_BACKEND_H_
