// ServerConfig: what headroom-server serves and how, read from YAML and
// overridden by command-line flags.
//
//   auto config = LoadServerConfigFile("deploy/config/default.yaml");
//   if (config.ok()) s = ApplyServerFlags(flags, &*config);
//
// Every key of the YAML is known: an unknown key, a wrong type or a value out
// of range is an error that names the key path and the line, e.g.
//   "config.yaml:12: engine.max_num_seqs: expected an integer, got \"many\"".
// Relative paths are taken from the current directory (as with any CLI).
// deploy/config/default.yaml lists every key with its default.
#ifndef HEADROOM_SERVER_CONFIG_H_
#define HEADROOM_SERVER_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compress/compress_settings.h"

namespace headroom::server {

struct ModelSection {
  std::string path;             // llama2.c .bin file or Hugging Face directory
  std::string format = "auto";  // auto | llama2c | hf (checked against path)
  std::string tokenizer;        // "" = the one beside the model
  // auto | f32 | f16 | bf16 | q8_0: the dtype the weight matrices are served
  // in on the CPU (auto: the checkpoint's own, mapped in place).
  std::string weights_dtype = "auto";
};

struct CompressionSection {
  // "none" serves the model as it is; otherwise a compress/ method name
  // (svd-a, svd-w, mean-pool, rope-commuting, ours, auto, ...).
  std::string method = "none";
  // Either a projections file made by headroom-compress ...
  std::string projections;
  // ... or calibration text, one sequence per non-empty line.
  std::string calibration_text;
  int calibration_first_line = 1;  // counted over non-empty lines, from 1
  int calibration_last_line = 0;   // inclusive; 0 = to the end
  // What to compute from it, as headroom-compress's flags say it (the keys
  // kv_heads, kv_budget, regroup, holdback_tokens, refit_tokens,
  // refit_ridge, refit_inputs and calibration.tokens).
  compress::CompressSettings settings;
  // Projections computed on load are cached here, keyed by model digest,
  // method, calibration digest and lines and every setting. "" = no cache.
  std::string cache_dir;
};

// The config key of a CompressSettings field: "compression.kv_budget",
// "compression.calibration.tokens" for calibration_tokens.
std::string CompressionSettingKey(const std::string& field);

struct EngineSection {
  int max_num_batched_tokens = 256;  // tokens per step, all sequences
  int max_num_seqs = 64;             // sequences per step
  int block_size = 16;               // tokens per KV page
  // KV memory budget; the pool has floor(budget / bytes per page of the
  // served layout) pages. Default 64 MiB.
  int64_t kv_cache_memory_bytes = int64_t{64} << 20;
  int threads = 1;  // CPU backend threads
  // Admit waiting requests only while one free KV page per sequence in the
  // batch remains (false: admit whenever the prompt chunk fits).
  bool admission_reserve = true;
  // Prompt and Tokenize text longer than this many bytes is refused before
  // it is tokenized. 0 = the context times the longest token's bytes (no
  // prompt that fits the context is longer).
  int64_t max_prompt_bytes = 0;
  // Prefix caching: a prompt that starts with KV pages computed for an
  // earlier request of the same tenant (or cache group) shares them and
  // computes only the rest (server/engine/kv_cache_manager.h).
  bool enable_prefix_caching = true;
};

// The OpenAI-compatible HTTP API (server/openai/), a second front end over
// the same engine and tenants, on its own listener.
struct HttpApiSection {
  std::string listen;  // host:port; "" = off (the library default)
  // A chat template file, read at start into chat_template_text; "" = none
  // (chat completions then answer 400 naming the flag).
  std::string chat_template;
  std::string chat_template_text;  // the file's contents (not a YAML key)
  std::string model_name;          // "" = the model path's last component
  int64_t max_body_bytes = int64_t{4} << 20;  // larger request bodies: 413
  int max_connections = 4096;  // open at once; beyond: 503 and closed
};

struct TenantConfig {
  std::string name;
  // Lowercase hex SHA-256 of the API key, from api_key_sha256, or computed
  // at load from api_key_env / api_key_file. The key itself is not kept.
  std::string api_key_sha256;
  double weight = 1.0;  // fair share: tokens served in proportion to this
  int priority = 0;     // higher is scheduled first, before fair share
  int max_concurrent_requests = 0;  // in flight at once; 0 = no limit
  int max_queued_requests = 0;      // in flight, no token yet; 0 = no limit
  int64_t tokens_per_minute = 0;    // prompt + max_tokens; 0 = no limit
  double kv_page_share = 1.0;       // fraction of the pool it may reserve
  // Tenants share cached prefix pages only within one cache group; "" = a
  // group of its own. Sharing lets one tenant time another's prompts (a
  // hit answers faster), so a group is for tenants that trust each other.
  std::string cache_group;
};

struct ServerConfig {
  ModelSection model;
  CompressionSection compression;
  EngineSection engine;
  // Where the model runs: "cpu" (OpenBLAS, fp32) or "cuda" (fp16/bf16
  // weights and KV pages, `dtype`).
  std::string device = "cpu";
  std::string dtype = "float16";           // cuda: float16 | bfloat16
  int device_id = 0;                       // cuda: which GPU
  std::string listen = "127.0.0.1:50051";  // gRPC; port 0 = any free port
  std::string metrics_listen = "127.0.0.1:9464";  // HTTP; "" = off
  HttpApiSection http;                            // the OpenAI-compatible API
  double drain_deadline_seconds = 30.0;  // SIGTERM: finish work within this
  // Testing readiness probes: stay NOT_SERVING this long after loading.
  double load_delay_seconds = 0.0;
  std::vector<TenantConfig> tenants;
  // Requests without a key run as tenant "anonymous" (weight 1, no quota
  // unless a tenant named "anonymous" without a key is configured).
  bool allow_anonymous = false;
};

// Parses YAML text; `source` names it in errors (a file name).
absl::StatusOr<ServerConfig> ParseServerConfig(const std::string& yaml,
                                               const std::string& source);
// Reads and parses a file; NotFound / InvalidArgument name the file.
absl::StatusOr<ServerConfig> LoadServerConfigFile(const std::string& path);

// Reads http.chat_template (when set) into http.chat_template_text; an
// error names the key and the file.
absl::Status LoadChatTemplate(ServerConfig* config);

// Flags of headroom-server, "--name value" or "--name=value".
struct ServerFlags {
  std::string config_path;                    // --config
  std::map<std::string, std::string> values;  // the overrides, by name
};
// Parses argv[1..argc); an unknown flag or a missing value names the flag.
absl::StatusOr<ServerFlags> ParseServerFlags(int argc, const char* const* argv);
// The flags that override the config, one line each, for --help.
std::string ServerFlagsHelp();
// Applies the overrides to `config` (after the YAML); checks the result.
absl::Status ApplyServerFlags(const ServerFlags& flags, ServerConfig* config);

// `address` is host:port with a port in 0..65535 (IPv6 hosts bracketed;
// http::ParseListenAddress); "" only when `may_be_empty`. InvalidArgument
// quoting the address.
absl::Status CheckListenAddress(const std::string& address, bool may_be_empty);

// Checks cross-field rules (method vs calibration, names unique, ...).
absl::Status ValidateServerConfig(const ServerConfig& config);

}  // namespace headroom::server

#endif  // HEADROOM_SERVER_CONFIG_H_
