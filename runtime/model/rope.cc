#include "runtime/model/rope.h"

#include <cmath>
#include <numbers>

namespace headroom::runtime {

const char* RopeScalingTypeName(RopeScaling::Type type) {
  switch (type) {
    case RopeScaling::Type::kNone:
      return "none";
    case RopeScaling::Type::kLinear:
      return "linear";
    case RopeScaling::Type::kLlama3:
      return "llama3";
  }
  return "unknown";
}

namespace {

float Llama3Scaled(float inv_freq, const RopeScaling& s) {
  const double old_context = s.original_max_position;
  const double low_wavelength = old_context / s.low_freq_factor;
  const double high_wavelength = old_context / s.high_freq_factor;
  const double wavelength = 2 * std::numbers::pi / inv_freq;
  if (wavelength > low_wavelength) return inv_freq / s.factor;
  if (wavelength < high_wavelength) return inv_freq;
  const double smooth = (old_context / wavelength - s.low_freq_factor) /
                        (s.high_freq_factor - s.low_freq_factor);
  return static_cast<float>((1 - smooth) * inv_freq / s.factor +
                            smooth * inv_freq);
}

}  // namespace

std::vector<float> RopeInverseFrequencies(const ModelConfig& c) {
  const int d = c.head_dim;
  std::vector<float> inv_freq(d / 2);
  for (int p = 0; p < d / 2; ++p) {
    const float f =
        1.0f / std::pow(c.rope_theta, static_cast<float>(2 * p) / d);
    switch (c.rope_scaling.type) {
      case RopeScaling::Type::kNone:
        inv_freq[p] = f;
        break;
      case RopeScaling::Type::kLinear:
        inv_freq[p] = f / c.rope_scaling.factor;
        break;
      case RopeScaling::Type::kLlama3:
        inv_freq[p] = Llama3Scaled(f, c.rope_scaling);
        break;
    }
  }
  return inv_freq;
}

}  // namespace headroom::runtime
