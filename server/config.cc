#include "server/config.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/util/sha256.h"
#include "runtime/weights/model_loader.h"
#include "server/http/listen_address.h"
#include "yaml-cpp/yaml.h"

namespace headroom::server {
namespace {

// yaml-cpp throws; everything in this file catches its exceptions where they
// arise and turns them into a Status naming the source, line and key.
class Parser {
 public:
  explicit Parser(std::string source) : source_(std::move(source)) {}

  absl::Status Error(const YAML::Mark& mark, const std::string& key,
                     const std::string& message) const {
    // Marks count lines from 0; editors count from 1. A null mark (-1)
    // happens for nodes yaml-cpp made up; leave the line out then.
    const std::string where =
        mark.line >= 0 ? absl::StrCat(source_, ":", mark.line + 1) : source_;
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", key, ": ", message));
  }

  // Checks that `node` is a map whose keys are all in `allowed`.
  absl::Status CheckMap(const YAML::Node& node, const std::string& path,
                        const std::set<std::string>& allowed) const {
    if (!node.IsMap()) {
      return Error(node.Mark(), path.empty() ? "(top level)" : path,
                   "expected a mapping of keys to values");
    }
    for (const auto& kv : node) {
      std::string key;
      try {
        key = kv.first.as<std::string>();
      } catch (const YAML::Exception&) {
        return Error(kv.first.Mark(), path, "keys must be strings");
      }
      if (allowed.count(key) == 0) {
        std::string known;
        for (const std::string& k : allowed) {
          absl::StrAppend(&known, known.empty() ? "" : ", ", k);
        }
        return Error(kv.first.Mark(), Join(path, key),
                     absl::StrCat("unknown key (known here: ", known, ")"));
      }
    }
    return absl::OkStatus();
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : absl::StrCat(path, ".", key);
  }

  template <typename T>
  absl::Status Get(const YAML::Node& map, const std::string& path,
                   const std::string& key, const char* type_name,
                   T* out) const {
    const YAML::Node node = map[key];
    if (!node.IsDefined()) return absl::OkStatus();  // keep the default
    const std::string full = Join(path, key);
    if (!node.IsScalar()) {
      return Error(node.Mark(), full, absl::StrCat("expected ", type_name));
    }
    try {
      *out = node.as<T>();
    } catch (const YAML::Exception&) {
      return Error(node.Mark(), full,
                   absl::StrCat("expected ", type_name, ", got \"",
                                node.Scalar(), "\""));
    }
    return absl::OkStatus();
  }

  absl::Status GetString(const YAML::Node& map, const std::string& path,
                         const std::string& key, std::string* out) const {
    return Get(map, path, key, "a string", out);
  }
  absl::Status GetInt(const YAML::Node& map, const std::string& path,
                      const std::string& key, int* out) const {
    return Get(map, path, key, "an integer", out);
  }
  absl::Status GetInt64(const YAML::Node& map, const std::string& path,
                        const std::string& key, int64_t* out) const {
    return Get(map, path, key, "an integer", out);
  }
  absl::Status GetDouble(const YAML::Node& map, const std::string& path,
                         const std::string& key, double* out) const {
    return Get(map, path, key, "a number", out);
  }
  absl::Status GetBool(const YAML::Node& map, const std::string& path,
                       const std::string& key, bool* out) const {
    return Get(map, path, key, "true or false", out);
  }

  // A range check that names the key and its line.
  absl::Status Require(bool ok, const YAML::Node& map, const std::string& path,
                       const std::string& key,
                       const std::string& message) const {
    if (ok) return absl::OkStatus();
    return Error(map[key].Mark(), Join(path, key), message);
  }

  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

#define HEADROOM_RETURN_IF_ERROR(expr) \
  do {                                 \
    absl::Status _s = (expr);          \
    if (!_s.ok()) return _s;           \
  } while (0)

absl::StatusOr<std::pair<int, int>> ParseLineRange(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  int a = 0, b = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &a) ||
      !absl::SimpleAtoi(parts[1], &b) || a < 1 || b < a) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected \"A:B\" with 1 <= A <= B, got \"", text, "\""));
  }
  return std::make_pair(a, b);
}

bool IsLowerHexDigest(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) {
      return false;
    }
  }
  return true;
}

std::string Trimmed(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

absl::Status ParseTenant(const Parser& p, const YAML::Node& node,
                         const std::string& path, TenantConfig* t) {
  HEADROOM_RETURN_IF_ERROR(p.CheckMap(
      node, path,
      {"name", "api_key_sha256", "api_key_env", "api_key_file", "weight",
       "priority", "max_concurrent_requests", "max_queued_requests",
       "tokens_per_minute", "kv_page_share", "cache_group"}));
  HEADROOM_RETURN_IF_ERROR(p.GetString(node, path, "name", &t->name));
  HEADROOM_RETURN_IF_ERROR(
      p.Require(!t->name.empty(), node, path, "name", "a name is required"));
  std::string digest, env, file;
  HEADROOM_RETURN_IF_ERROR(p.GetString(node, path, "api_key_sha256", &digest));
  HEADROOM_RETURN_IF_ERROR(p.GetString(node, path, "api_key_env", &env));
  HEADROOM_RETURN_IF_ERROR(p.GetString(node, path, "api_key_file", &file));
  const int sources = !digest.empty() + !env.empty() + !file.empty();
  if (sources > 1) {
    return p.Error(node.Mark(), path,
                   "give one of api_key_sha256, api_key_env, api_key_file");
  }
  if (!digest.empty()) {
    for (char& c : digest) c = static_cast<char>(std::tolower(c));
    HEADROOM_RETURN_IF_ERROR(
        p.Require(IsLowerHexDigest(digest), node, path, "api_key_sha256",
                  "expected 64 hex digits (sha256sum of the key)"));
    t->api_key_sha256 = digest;
  } else if (!env.empty()) {
    // The key itself never leaves this scope: only its digest is kept.
    const char* value = std::getenv(env.c_str());
    HEADROOM_RETURN_IF_ERROR(p.Require(
        value != nullptr && *value != '\0', node, path, "api_key_env",
        absl::StrCat("environment variable ", env, " is not set or empty")));
    t->api_key_sha256 = runtime::Sha256Hex(Trimmed(value));
  } else if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string key = Trimmed(buffer.str());
    HEADROOM_RETURN_IF_ERROR(p.Require(in.good() || in.eof(), node, path,
                                       "api_key_file",
                                       absl::StrCat("cannot read ", file)));
    HEADROOM_RETURN_IF_ERROR(p.Require(!key.empty(), node, path, "api_key_file",
                                       absl::StrCat(file, " is empty")));
    t->api_key_sha256 = runtime::Sha256Hex(key);
  }
  HEADROOM_RETURN_IF_ERROR(p.GetDouble(node, path, "weight", &t->weight));
  HEADROOM_RETURN_IF_ERROR(p.Require(t->weight > 0 && t->weight < 1e9, node,
                                     path, "weight", "must be > 0"));
  HEADROOM_RETURN_IF_ERROR(p.GetInt(node, path, "priority", &t->priority));
  HEADROOM_RETURN_IF_ERROR(p.GetInt(node, path, "max_concurrent_requests",
                                    &t->max_concurrent_requests));
  HEADROOM_RETURN_IF_ERROR(p.Require(t->max_concurrent_requests >= 0, node,
                                     path, "max_concurrent_requests",
                                     "must be >= 0 (0 = no limit)"));
  HEADROOM_RETURN_IF_ERROR(
      p.GetInt(node, path, "max_queued_requests", &t->max_queued_requests));
  HEADROOM_RETURN_IF_ERROR(p.Require(t->max_queued_requests >= 0, node, path,
                                     "max_queued_requests",
                                     "must be >= 0 (0 = no limit)"));
  HEADROOM_RETURN_IF_ERROR(
      p.GetInt64(node, path, "tokens_per_minute", &t->tokens_per_minute));
  HEADROOM_RETURN_IF_ERROR(p.Require(t->tokens_per_minute >= 0, node, path,
                                     "tokens_per_minute",
                                     "must be >= 0 (0 = no limit)"));
  HEADROOM_RETURN_IF_ERROR(
      p.GetDouble(node, path, "kv_page_share", &t->kv_page_share));
  HEADROOM_RETURN_IF_ERROR(
      p.Require(t->kv_page_share > 0 && t->kv_page_share <= 1, node, path,
                "kv_page_share", "must be in (0, 1]"));
  HEADROOM_RETURN_IF_ERROR(
      p.GetString(node, path, "cache_group", &t->cache_group));
  return absl::OkStatus();
}

// compression.calibration: the text, its lines and the token limit.
absl::Status ParseCalibration(const Parser& p, const YAML::Node& cal,
                              CompressionSection* cs) {
  const std::string cpath = "compression.calibration";
  HEADROOM_RETURN_IF_ERROR(p.CheckMap(cal, cpath, {"text", "lines", "tokens"}));
  HEADROOM_RETURN_IF_ERROR(
      p.GetString(cal, cpath, "text", &cs->calibration_text));
  std::string lines;
  HEADROOM_RETURN_IF_ERROR(p.GetString(cal, cpath, "lines", &lines));
  if (!lines.empty()) {
    auto range = ParseLineRange(lines);
    if (!range.ok()) {
      return p.Error(cal["lines"].Mark(), cpath + ".lines",
                     std::string(range.status().message()));
    }
    cs->calibration_first_line = range->first;
    cs->calibration_last_line = range->second;
  }
  return p.GetInt64(cal, cpath, "tokens", &cs->settings.calibration_tokens);
}

absl::Status ParseCompression(const Parser& p, const YAML::Node& m,
                              CompressionSection* cs) {
  const std::string path = "compression";
  HEADROOM_RETURN_IF_ERROR(
      p.CheckMap(m, path,
                 {"method", "kv_heads", "kv_budget", "regroup",
                  "holdback_tokens", "refit_tokens", "refit_ridge",
                  "refit_inputs", "calibration", "projections", "cache_dir"}));
  compress::CompressSettings& s = cs->settings;
  HEADROOM_RETURN_IF_ERROR(p.GetString(m, path, "method", &cs->method));
  HEADROOM_RETURN_IF_ERROR(p.GetInt(m, path, "kv_heads", &s.kv_heads));
  HEADROOM_RETURN_IF_ERROR(p.GetDouble(m, path, "kv_budget", &s.kv_budget));
  HEADROOM_RETURN_IF_ERROR(p.GetBool(m, path, "regroup", &s.regroup));
  HEADROOM_RETURN_IF_ERROR(
      p.GetInt64(m, path, "holdback_tokens", &s.holdback_tokens));
  HEADROOM_RETURN_IF_ERROR(
      p.GetInt64(m, path, "refit_tokens", &s.refit_tokens));
  HEADROOM_RETURN_IF_ERROR(p.GetDouble(m, path, "refit_ridge", &s.refit_ridge));
  HEADROOM_RETURN_IF_ERROR(
      p.GetString(m, path, "refit_inputs", &s.refit_inputs));
  HEADROOM_RETURN_IF_ERROR(
      p.GetString(m, path, "projections", &cs->projections));
  HEADROOM_RETURN_IF_ERROR(p.GetString(m, path, "cache_dir", &cs->cache_dir));
  if (const YAML::Node cal = m["calibration"]; cal.IsDefined()) {
    HEADROOM_RETURN_IF_ERROR(ParseCalibration(p, cal, cs));
  }
  if (auto bad = compress::CheckSettings(s)) {
    // The line of the key at fault (calibration.tokens is one level down).
    const YAML::Node node = bad->field == "calibration_tokens"
                                ? m["calibration"]["tokens"]
                                : m[bad->field];
    return p.Error(node.Mark(), CompressionSettingKey(bad->field),
                   bad->message);
  }
  return absl::OkStatus();
}

absl::Status ParseRoot(const Parser& p, const YAML::Node& root,
                       ServerConfig* c) {
  HEADROOM_RETURN_IF_ERROR(p.CheckMap(
      root, "",
      {"model", "compression", "engine", "device", "dtype", "device_id",
       "listen", "metrics_listen", "http", "drain_deadline_seconds",
       "load_delay_seconds", "tenants", "allow_anonymous"}));
  if (const YAML::Node h = root["http"]; h.IsDefined()) {
    HEADROOM_RETURN_IF_ERROR(
        p.CheckMap(h, "http",
                   {"listen", "chat_template", "model_name", "max_body_bytes",
                    "max_connections"}));
    HttpApiSection& a = c->http;
    HEADROOM_RETURN_IF_ERROR(p.GetString(h, "http", "listen", &a.listen));
    HEADROOM_RETURN_IF_ERROR(
        p.GetString(h, "http", "chat_template", &a.chat_template));
    HEADROOM_RETURN_IF_ERROR(
        p.GetString(h, "http", "model_name", &a.model_name));
    HEADROOM_RETURN_IF_ERROR(
        p.GetInt64(h, "http", "max_body_bytes", &a.max_body_bytes));
    HEADROOM_RETURN_IF_ERROR(p.Require(a.max_body_bytes >= 1024, h, "http",
                                       "max_body_bytes", "must be >= 1024"));
    HEADROOM_RETURN_IF_ERROR(
        p.GetInt(h, "http", "max_connections", &a.max_connections));
    HEADROOM_RETURN_IF_ERROR(p.Require(a.max_connections >= 1, h, "http",
                                       "max_connections", "must be >= 1"));
  }
  if (const YAML::Node m = root["model"]; m.IsDefined()) {
    HEADROOM_RETURN_IF_ERROR(p.CheckMap(
        m, "model", {"path", "format", "tokenizer", "weights_dtype"}));
    HEADROOM_RETURN_IF_ERROR(p.GetString(m, "model", "path", &c->model.path));
    HEADROOM_RETURN_IF_ERROR(
        p.GetString(m, "model", "format", &c->model.format));
    HEADROOM_RETURN_IF_ERROR(
        p.Require(c->model.format == "auto" || c->model.format == "llama2c" ||
                      c->model.format == "hf",
                  m, "model", "format", "expected auto, llama2c or hf"));
    HEADROOM_RETURN_IF_ERROR(
        p.GetString(m, "model", "tokenizer", &c->model.tokenizer));
    HEADROOM_RETURN_IF_ERROR(
        p.GetString(m, "model", "weights_dtype", &c->model.weights_dtype));
    HEADROOM_RETURN_IF_ERROR(p.Require(
        runtime::ParseWeightsDtypeOption(c->model.weights_dtype).ok(), m,
        "model", "weights_dtype", "expected auto, f32, f16, bf16 or q8_0"));
  }
  if (const YAML::Node m = root["compression"]; m.IsDefined()) {
    const std::string path = "compression";
    HEADROOM_RETURN_IF_ERROR(ParseCompression(p, m, &c->compression));
  }
  if (const YAML::Node m = root["engine"]; m.IsDefined()) {
    const std::string path = "engine";
    EngineSection& e = c->engine;
    HEADROOM_RETURN_IF_ERROR(
        p.CheckMap(m, path,
                   {"max_num_batched_tokens", "max_num_seqs", "block_size",
                    "kv_cache_memory_bytes", "threads", "admission_reserve",
                    "max_prompt_bytes", "enable_prefix_caching"}));
    HEADROOM_RETURN_IF_ERROR(
        p.GetInt(m, path, "max_num_batched_tokens", &e.max_num_batched_tokens));
    HEADROOM_RETURN_IF_ERROR(p.Require(e.max_num_batched_tokens > 0, m, path,
                                       "max_num_batched_tokens",
                                       "must be >= 1"));
    HEADROOM_RETURN_IF_ERROR(
        p.GetInt(m, path, "max_num_seqs", &e.max_num_seqs));
    HEADROOM_RETURN_IF_ERROR(
        p.Require(e.max_num_seqs > 0, m, path, "max_num_seqs", "must be >= 1"));
    HEADROOM_RETURN_IF_ERROR(p.GetInt(m, path, "block_size", &e.block_size));
    HEADROOM_RETURN_IF_ERROR(p.Require(e.block_size > 0 && e.block_size <= 1024,
                                       m, path, "block_size",
                                       "must be in [1, 1024]"));
    HEADROOM_RETURN_IF_ERROR(
        p.GetInt64(m, path, "kv_cache_memory_bytes", &e.kv_cache_memory_bytes));
    HEADROOM_RETURN_IF_ERROR(p.Require(e.kv_cache_memory_bytes > 0, m, path,
                                       "kv_cache_memory_bytes",
                                       "must be >= 1"));
    HEADROOM_RETURN_IF_ERROR(p.GetInt(m, path, "threads", &e.threads));
    HEADROOM_RETURN_IF_ERROR(
        p.GetBool(m, path, "admission_reserve", &e.admission_reserve));
    HEADROOM_RETURN_IF_ERROR(
        p.GetBool(m, path, "enable_prefix_caching", &e.enable_prefix_caching));
    HEADROOM_RETURN_IF_ERROR(p.Require(e.threads > 0 && e.threads <= 1024, m,
                                       path, "threads",
                                       "must be in [1, 1024]"));
    HEADROOM_RETURN_IF_ERROR(
        p.GetInt64(m, path, "max_prompt_bytes", &e.max_prompt_bytes));
    HEADROOM_RETURN_IF_ERROR(
        p.Require(e.max_prompt_bytes >= 0, m, path, "max_prompt_bytes",
                  "must be >= 0 (0 = derived from the context)"));
  }
  HEADROOM_RETURN_IF_ERROR(p.GetString(root, "", "device", &c->device));
  HEADROOM_RETURN_IF_ERROR(p.Require(c->device == "cpu" || c->device == "cuda",
                                     root, "", "device",
                                     "expected cpu or cuda"));
  HEADROOM_RETURN_IF_ERROR(p.GetString(root, "", "dtype", &c->dtype));
  HEADROOM_RETURN_IF_ERROR(
      p.Require(c->dtype == "float16" || c->dtype == "bfloat16", root, "",
                "dtype", "expected float16 or bfloat16"));
  HEADROOM_RETURN_IF_ERROR(p.GetInt(root, "", "device_id", &c->device_id));
  HEADROOM_RETURN_IF_ERROR(
      p.Require(c->device_id >= 0, root, "", "device_id", "must be >= 0"));
  HEADROOM_RETURN_IF_ERROR(p.GetString(root, "", "listen", &c->listen));
  HEADROOM_RETURN_IF_ERROR(
      p.GetString(root, "", "metrics_listen", &c->metrics_listen));
  HEADROOM_RETURN_IF_ERROR(p.GetDouble(root, "", "drain_deadline_seconds",
                                       &c->drain_deadline_seconds));
  // Bounded so that now + the deadline cannot overflow a clock.
  HEADROOM_RETURN_IF_ERROR(p.Require(
      c->drain_deadline_seconds >= 0 && c->drain_deadline_seconds <= 86400,
      root, "", "drain_deadline_seconds", "must be in [0, 86400]"));
  HEADROOM_RETURN_IF_ERROR(
      p.GetDouble(root, "", "load_delay_seconds", &c->load_delay_seconds));
  HEADROOM_RETURN_IF_ERROR(
      p.Require(c->load_delay_seconds >= 0 && c->load_delay_seconds <= 86400,
                root, "", "load_delay_seconds", "must be in [0, 86400]"));
  HEADROOM_RETURN_IF_ERROR(
      p.GetBool(root, "", "allow_anonymous", &c->allow_anonymous));
  if (const YAML::Node list = root["tenants"]; list.IsDefined()) {
    if (!list.IsSequence() && !list.IsNull()) {
      return p.Error(list.Mark(), "tenants", "expected a list of tenants");
    }
    if (list.IsSequence()) {
      for (size_t i = 0; i < list.size(); ++i) {
        TenantConfig t;
        HEADROOM_RETURN_IF_ERROR(
            ParseTenant(p, list[i], absl::StrCat("tenants[", i, "]"), &t));
        c->tenants.push_back(std::move(t));
      }
    }
  }
  return absl::OkStatus();
}

std::string DefaultCacheDir() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return "";
  return absl::StrCat(home, "/.cache/headroom/projections");
}

}  // namespace

absl::Status CheckListenAddress(const std::string& address, bool may_be_empty) {
  if (address.empty()) {
    if (may_be_empty) return absl::OkStatus();
    return absl::InvalidArgumentError("an address is required (host:port)");
  }
  return http::ParseListenAddress(address).status();
}

absl::StatusOr<ServerConfig> ParseServerConfig(const std::string& yaml,
                                               const std::string& source) {
  ServerConfig config;
  config.compression.cache_dir = DefaultCacheDir();
  Parser p(source);
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return p.Error(e.mark, "(syntax)", absl::StrCat("malformed YAML: ", e.msg));
  }
  if (root.IsNull()) return config;  // an empty file: all defaults
  try {
    HEADROOM_RETURN_IF_ERROR(ParseRoot(p, root, &config));
  } catch (const YAML::Exception& e) {
    // Not expected (every access above is checked); still never escapes.
    return p.Error(e.mark, "(config)", e.msg);
  }
  return config;
}

absl::StatusOr<ServerConfig> LoadServerConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config file ", path, " is a directory (give a YAML file, e.g. ",
        "deploy/config/default.yaml)"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("config file ", path, " cannot be opened"));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseServerConfig(buffer.str(), path);
}

absl::Status LoadChatTemplate(ServerConfig* config) {
  const std::string& path = config->http.chat_template;
  if (path.empty()) return absl::OkStatus();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("http.chat_template: cannot read \"", path, "\""));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  config->http.chat_template_text = buffer.str();
  return absl::OkStatus();
}

namespace {

struct FlagInfo {
  const char* name;
  bool takes_value;
  const char* help;
};

constexpr FlagInfo kFlags[] = {
    {"config", true, "YAML config file"},
    {"listen", true, "gRPC address, host:port (port 0: any free port)"},
    {"metrics-listen", true, "HTTP address of /metrics (\"\" turns it off)"},
    {"http-listen", true,
     "OpenAI-compatible HTTP API address (\"\" turns it off)"},
    {"chat-template", true, "chat template file for /v1/chat/completions"},
    {"served-model-name", true, "the model's name in the OpenAI API"},
    {"model", true, "model path (llama2.c .bin or Hugging Face directory)"},
    {"model-format", true, "auto | llama2c | hf"},
    {"tokenizer", true, "tokenizer path (default: beside the model)"},
    {"weights-dtype", true, "auto | f32 | f16 | bf16 | q8_0 (weight matrices)"},
    {"compression-method", true, "none or a headroom-compress method"},
    {"kv-heads", true, "KV heads every layer keeps"},
    {"kv-budget", true, "fraction of the KV bytes, heads chosen per layer"},
    {"regroup", false, "choose which KV heads share a group"},
    {"holdback-tokens", true, "calibration tokens held back for decisions"},
    {"refit-tokens", true, "calibration tokens the W_O refit fits on"},
    {"refit-ridge", true, "W_O refit ridge (relative to the mean diagonal)"},
    {"refit-inputs", true, "W_O refit inputs: original | propagated"},
    {"projections", true, "projections file from headroom-compress"},
    {"calibration-text", true, "calibration text, one sequence per line"},
    {"calibration-lines", true, "A:B, non-empty lines counted from 1"},
    {"calibration-tokens", true, "stop calibration after N tokens"},
    {"cache-dir", true, "projections cache directory (\"\" = none)"},
    {"max-num-batched-tokens", true, "tokens per engine step"},
    {"max-num-seqs", true, "sequences per engine step"},
    {"block-size", true, "tokens per KV page"},
    {"kv-cache-memory-bytes", true, "KV pool memory budget"},
    {"threads", true, "CPU backend threads"},
    {"prefix-caching", true, "on | off (engine.enable_prefix_caching)"},
    {"device", true, "cpu | cuda"},
    {"dtype", true, "cuda weights and KV pages: float16 | bfloat16"},
    {"device-id", true, "cuda: which GPU"},
    {"drain-deadline-seconds", true, "SIGTERM: time given to in-flight work"},
    {"load-delay-seconds", true, "testing: stay NOT_SERVING this long"},
    {"allow-anonymous", false, "requests without a key run as anonymous"},
    {"check-config", false,
     "check the config and the flags, print \"config OK\" and exit (0; "
     "an error: 2) without loading the model"},
    {"help", false, "this text"},
};

const FlagInfo* FindFlag(const std::string& name) {
  for (const FlagInfo& f : kFlags) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

template <typename T>
absl::Status ParseNumber(const std::string& flag, const std::string& text,
                         T* out) {
  bool ok = false;
  if constexpr (std::is_same_v<T, double>) {
    ok = absl::SimpleAtod(text, out);
  } else {
    ok = absl::SimpleAtoi(text, out);
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": expected a number, got \"", text, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServerFlags> ParseServerFlags(int argc,
                                             const char* const* argv) {
  ServerFlags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", arg, "\" (flags are --name)"));
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const FlagInfo* info = FindFlag(name);
    if (info == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (info->takes_value && !has_value) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value"));
      }
      value = argv[++i];
    } else if (!info->takes_value && has_value) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " takes no value"));
    }
    if (name == "config") {
      flags.config_path = value;
    } else {
      flags.values[name] = value;
    }
  }
  return flags;
}

std::string ServerFlagsHelp() {
  std::string out =
      "usage: headroom-server [--config FILE] [--flag value ...]\n";
  for (const FlagInfo& f : kFlags) {
    absl::StrAppend(&out, "  --", f.name, f.takes_value ? " VALUE" : "", "  ",
                    f.help, "\n");
  }
  return out;
}

absl::Status ApplyServerFlags(const ServerFlags& flags, ServerConfig* c) {
  for (const auto& [name, value] : flags.values) {
    absl::Status s = absl::OkStatus();
    if (name == "listen") {
      c->listen = value;
    } else if (name == "metrics-listen") {
      c->metrics_listen = value;
    } else if (name == "http-listen") {
      c->http.listen = value;
    } else if (name == "chat-template") {
      c->http.chat_template = value;
    } else if (name == "served-model-name") {
      c->http.model_name = value;
    } else if (name == "model") {
      c->model.path = value;
    } else if (name == "model-format") {
      c->model.format = value;
    } else if (name == "tokenizer") {
      c->model.tokenizer = value;
    } else if (name == "weights-dtype") {
      c->model.weights_dtype = value;
    } else if (name == "compression-method") {
      c->compression.method = value;
    } else if (name == "kv-heads") {
      s = ParseNumber(name, value, &c->compression.settings.kv_heads);
    } else if (name == "kv-budget") {
      s = ParseNumber(name, value, &c->compression.settings.kv_budget);
    } else if (name == "regroup") {
      c->compression.settings.regroup = true;
    } else if (name == "holdback-tokens") {
      s = ParseNumber(name, value, &c->compression.settings.holdback_tokens);
    } else if (name == "refit-tokens") {
      s = ParseNumber(name, value, &c->compression.settings.refit_tokens);
    } else if (name == "refit-ridge") {
      s = ParseNumber(name, value, &c->compression.settings.refit_ridge);
    } else if (name == "refit-inputs") {
      c->compression.settings.refit_inputs = value;
    } else if (name == "projections") {
      c->compression.projections = value;
    } else if (name == "calibration-text") {
      c->compression.calibration_text = value;
    } else if (name == "calibration-lines") {
      auto range = ParseLineRange(value);
      if (!range.ok()) {
        s = absl::InvalidArgumentError(
            absl::StrCat("--", name, ": ", range.status().message()));
      } else {
        c->compression.calibration_first_line = range->first;
        c->compression.calibration_last_line = range->second;
      }
    } else if (name == "calibration-tokens") {
      s = ParseNumber(name, value, &c->compression.settings.calibration_tokens);
    } else if (name == "cache-dir") {
      c->compression.cache_dir = value;
    } else if (name == "max-num-batched-tokens") {
      s = ParseNumber(name, value, &c->engine.max_num_batched_tokens);
    } else if (name == "max-num-seqs") {
      s = ParseNumber(name, value, &c->engine.max_num_seqs);
    } else if (name == "block-size") {
      s = ParseNumber(name, value, &c->engine.block_size);
    } else if (name == "kv-cache-memory-bytes") {
      s = ParseNumber(name, value, &c->engine.kv_cache_memory_bytes);
    } else if (name == "threads") {
      s = ParseNumber(name, value, &c->engine.threads);
    } else if (name == "prefix-caching") {
      if (value == "on" || value == "off") {
        c->engine.enable_prefix_caching = value == "on";
      } else {
        s = absl::InvalidArgumentError(absl::StrCat(
            "--prefix-caching: expected on or off, got \"", value, "\""));
      }
    } else if (name == "device") {
      c->device = value;
    } else if (name == "dtype") {
      c->dtype = value;
    } else if (name == "device-id") {
      s = ParseNumber(name, value, &c->device_id);
    } else if (name == "drain-deadline-seconds") {
      s = ParseNumber(name, value, &c->drain_deadline_seconds);
    } else if (name == "load-delay-seconds") {
      s = ParseNumber(name, value, &c->load_delay_seconds);
    } else if (name == "allow-anonymous") {
      c->allow_anonymous = true;
    }
    if (!s.ok()) return s;
  }
  return ValidateServerConfig(*c);
}

std::string CompressionSettingKey(const std::string& field) {
  return field == "calibration_tokens" ? "compression.calibration.tokens"
                                       : "compression." + field;
}

namespace {

// A projections file fixes the KV heads and groups; the settings that would
// choose them apply only to projections computed on load.
absl::Status ValidateCompression(const CompressionSection& cs) {
  auto bad = [](const std::string& key, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", why));
  };
  const compress::CompressSettings& s = cs.settings;
  if (auto problem = compress::CheckSettings(s)) {
    return bad(CompressionSettingKey(problem->field), problem->message);
  }
  if (cs.method == "none") {
    if (!cs.projections.empty()) {
      return bad("compression.projections",
                 "set compression.method too (the file's method)");
    }
    return absl::OkStatus();
  }
  if (!cs.projections.empty()) {
    const char* const fixed =
        "not with compression.projections (the file "
        "fixes each layer's KV heads and groups)";
    if (s.kv_budget != 0.0) return bad("compression.kv_budget", fixed);
    if (s.regroup) return bad("compression.regroup", fixed);
    return absl::OkStatus();
  }
  if (s.kv_heads <= 0 && s.kv_budget == 0.0) {
    return bad("compression.kv_heads",
               "needed (>= 1), or compression.kv_budget, when "
               "compression.method is " +
                   cs.method);
  }
  if (cs.calibration_text.empty()) {
    return bad("compression.calibration.text",
               "needed to compute " + cs.method +
                   " projections (or give compression.projections)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateServerConfig(const ServerConfig& c) {
  auto bad = [](const std::string& key, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", why));
  };
  if (c.model.path.empty()) return bad("model.path", "a model is required");
  if (c.model.format != "auto" && c.model.format != "llama2c" &&
      c.model.format != "hf") {
    return bad("model.format", "expected auto, llama2c or hf");
  }
  if (!runtime::ParseWeightsDtypeOption(c.model.weights_dtype).ok()) {
    return bad("model.weights_dtype",
               "expected auto, f32, f16, bf16 or q8_0, got \"" +
                   c.model.weights_dtype + "\"");
  }
  if (auto s = ValidateCompression(c.compression); !s.ok()) return s;
  const EngineSection& e = c.engine;
  if (e.max_num_batched_tokens <= 0) {
    return bad("engine.max_num_batched_tokens", "must be >= 1");
  }
  if (e.max_num_seqs <= 0) return bad("engine.max_num_seqs", "must be >= 1");
  if (e.block_size <= 0) return bad("engine.block_size", "must be >= 1");
  if (e.kv_cache_memory_bytes <= 0) {
    return bad("engine.kv_cache_memory_bytes", "must be >= 1");
  }
  if (e.threads <= 0) return bad("engine.threads", "must be >= 1");
  if (c.device != "cpu" && c.device != "cuda") {
    return bad("device", "expected cpu or cuda, got \"" + c.device + "\"");
  }
  if (c.dtype != "float16" && c.dtype != "bfloat16") {
    return bad("dtype",
               "expected float16 or bfloat16, got \"" + c.dtype + "\"");
  }
  if (c.device_id < 0) return bad("device_id", "must be >= 0");
  if (auto s = CheckListenAddress(c.listen, false); !s.ok()) {
    return bad("listen", std::string(s.message()));
  }
  if (auto s = CheckListenAddress(c.metrics_listen, true); !s.ok()) {
    return bad("metrics_listen", std::string(s.message()));
  }
  if (auto s = CheckListenAddress(c.http.listen, true); !s.ok()) {
    return bad("http.listen", std::string(s.message()));
  }
  if (c.http.max_body_bytes < 1024) {
    return bad("http.max_body_bytes", "must be >= 1024");
  }
  if (c.http.max_connections < 1) {
    return bad("http.max_connections", "must be >= 1");
  }
  if (e.max_prompt_bytes < 0) {
    return bad("engine.max_prompt_bytes", "must be >= 0");
  }
  if (!(c.drain_deadline_seconds >= 0 && c.drain_deadline_seconds <= 86400)) {
    return bad("drain_deadline_seconds", "must be in [0, 86400]");
  }
  if (!(c.load_delay_seconds >= 0 && c.load_delay_seconds <= 86400)) {
    return bad("load_delay_seconds", "must be in [0, 86400]");
  }
  std::set<std::string> names, digests;
  for (size_t i = 0; i < c.tenants.size(); ++i) {
    const TenantConfig& t = c.tenants[i];
    const std::string key = absl::StrCat("tenants[", i, "]");
    if (!names.insert(t.name).second) {
      return bad(key + ".name", "\"" + t.name + "\" is used twice");
    }
    if (t.api_key_sha256.empty() && t.name != "anonymous") {
      return bad(key, "needs api_key_sha256, api_key_env or api_key_file");
    }
    if (!t.api_key_sha256.empty() && !digests.insert(t.api_key_sha256).second) {
      // Never print the digest: it identifies the key.
      return bad(key, "has the same API key as another tenant");
    }
  }
  return absl::OkStatus();
}

}  // namespace headroom::server
