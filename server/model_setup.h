// Loading the served model: weights and tokenizer, then KV-head compression
// on load (a projections file, or calibration + a method, with the result
// cached on disk so that a restart does not recalibrate), and the summary
// that GetModelInfo and the memory-savings metrics report.
#ifndef HEADROOM_SERVER_MODEL_SETUP_H_
#define HEADROOM_SERVER_MODEL_SETUP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compress/projections.h"
#include "runtime/model/model_weights.h"
#include "runtime/tokenizers/tokenizer.h"
#include "server/config.h"

namespace headroom::server {

struct ServedLayer {
  int kv_heads_original = 0;  // n
  int kv_heads_served = 0;    // g_l
  double key_energy = 1.0;    // fraction of calibration energy kept
  double value_energy = 1.0;
  std::string method = "none";
  // Head regrouping: served slot p holds original KV head kv_order[p]
  // (empty: contiguous groups).
  std::vector<int> kv_order;
};

struct ServedModel {
  runtime::ModelWeights weights;  // compressed when a method is set
  std::shared_ptr<const runtime::Tokenizer> tokenizer;
  std::string model_path;
  std::string model_digest;  // of the source (uncompressed) weights
  std::string method = "none";
  // Where the projections came from: "none", "file", "cache", "computed".
  std::string projections_source = "none";
  std::string projections_path;  // the file used or written ("" if none)
  // SHA-256 over the applied projections' method, shapes and tensors;
  // "none" when uncompressed. With model_digest it names the served layout
  // (the prefix cache's key: pages of one layout never serve another).
  std::string projections_digest = "none";
  // How `auto` / a KV budget decided (JSON; "" when nothing was compared).
  std::string compression_decision;
  std::vector<ServedLayer> layers;
  int64_t kv_bytes_per_token_original = 0;  // fp32, all layers, K and V
  int64_t kv_bytes_per_token_served = 0;
};

// model.path exists (and is a file / directory as model.format says);
// NotFound / InvalidArgument naming the key otherwise. Cheap: start-up runs
// it before listening.
absl::Status CheckModelPath(const ModelSection& model);

// The cache file name for these settings: hex SHA-256 of the projections
// format version, model digest, method, calibration text digest, line range
// and every CompressSettings field (compress::SettingsKey), plus
// ".safetensors".
std::string ProjectionsCacheName(const std::string& model_digest,
                                 const CompressionSection& compression,
                                 const std::string& calibration_digest);

// The hex SHA-256 of what `projections` applies (method, per-layer heads,
// key mode and every tensor).
std::string ProjectionsDigest(const compress::Projections& projections);

// Loads and compresses as `config` says; progress lines go to `log`
// (may be empty). Errors name the config key or the file at fault.
absl::StatusOr<ServedModel> LoadServedModel(
    const ServerConfig& config,
    const std::function<void(const std::string&)>& log);

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_MODEL_SETUP_H_
