// ForwardObserver: a read-only view of each layer's activations during a
// forward step, for calibration (compress/) and debugging. Not used when
// serving.
#ifndef HEADROOM_RUNTIME_MODEL_FORWARD_OBSERVER_H_
#define HEADROOM_RUNTIME_MODEL_FORWARD_OBSERVER_H_

#include "runtime/batch.h"

namespace headroom::runtime {

struct LayerActivations {
  int layer = 0;
  const Batch* batch = nullptr;
  int num_tokens = 0;                 // T
  const float* attn_input = nullptr;  // [T, D] RMS-normed input of attention
  const float* queries = nullptr;     // [T, h*d] after RoPE
  const float* keys = nullptr;        // [T, nk*d] after RoPE, before any
                                      // post-RoPE projection
  int key_heads = 0;                  // nk
  const float* values = nullptr;      // [T, g_l*d]
  int value_heads = 0;                // g_l
};

class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  // Called once per layer per step, after Q/K/V and RoPE, before attention.
  virtual void OnLayer(const LayerActivations& activations) = 0;
};

}  // namespace headroom::runtime

#endif  // HEADROOM_RUNTIME_MODEL_FORWARD_OBSERVER_H_
