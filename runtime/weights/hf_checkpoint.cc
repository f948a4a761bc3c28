#include "runtime/weights/hf_checkpoint.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "runtime/weights/safetensors.h"

namespace headroom::runtime {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr char kConfigName[] = "config.json";
constexpr char kWeightsName[] = "model.safetensors";
constexpr char kIndexName[] = "model.safetensors.index.json";

// Hugging Face model types / architectures whose decoder is the one the
// runtime computes (RMSNorm, rotate_half RoPE, SwiGLU, no biases).
constexpr const char* kModelTypes[] = {"llama", "mistral"};
constexpr const char* kArchitectures[] = {"LlamaForCausalLM",
                                          "MistralForCausalLM"};

// Debian's Abseil has its own string_view, which StrCat wants.
absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

// `j` as JSON text for an error message, cut to 80 characters so that a
// hostile file cannot make the message itself huge.
std::string Snippet(const Json& j) {
  std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return ss.str();
}

// Parses a JSON file; nlohmann's exceptions stay in here.
absl::StatusOr<Json> ReadJsonFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  try {
    return Json::parse(*text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not valid JSON: ", e.what()));
  }
}

// Typed access to config.json fields; every error names the file and field.
// A field set to null counts as absent (HF writes e.g. "head_dim": null).
class ConfigFields {
 public:
  ConfigFields(const Json& root, std::string path)
      : root_(root), path_(std::move(path)) {}

  const Json* Get(const char* field) const {
    auto it = root_.find(field);
    if (it == root_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::Status Error(const char* field, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": field \"", field, "\" ", Sv(what)));
  }
  absl::Status WrongType(const char* field, const Json& j,
                         std::string_view expected) const {
    return Error(field, absl::StrCat("is a JSON ", j.type_name(), " (",
                                     Snippet(j), "), expected ", Sv(expected)));
  }

  // An integer that fits in int and is >= `min`.
  absl::StatusOr<int> Int(const char* field, const Json& j, int min) const {
    int64_t v = 0;
    if (j.is_number_unsigned()) {
      const uint64_t u = j.get<uint64_t>();
      v = u > static_cast<uint64_t>(std::numeric_limits<int>::max())
              ? int64_t{std::numeric_limits<int>::max()} + 1
              : static_cast<int64_t>(u);
    } else if (j.is_number_integer()) {
      v = j.get<int64_t>();
    } else {
      return WrongType(field, j, "integer");
    }
    if (v < min || v > std::numeric_limits<int>::max()) {
      return Error(
          field,
          absl::StrCat("is ", Snippet(j), ", expected an integer",
                       min > 0 ? " >= 1" : " >= 0", " that fits in int32"));
    }
    return static_cast<int>(v);
  }

  absl::StatusOr<int> RequiredPositiveInt(const char* field) const {
    const Json* j = Get(field);
    if (j == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": required field \"", field, "\" is missing"));
    }
    return Int(field, *j, 1);
  }

  absl::StatusOr<int> OptionalInt(const char* field, int fallback,
                                  int min) const {
    const Json* j = Get(field);
    return j == nullptr ? fallback : Int(field, *j, min);
  }

  // A token id that may be given as a list (HF allows several EOS ids): the
  // first entry is used.
  absl::StatusOr<int> OptionalTokenId(const char* field, int fallback) const {
    const Json* j = Get(field);
    if (j == nullptr) return fallback;
    if (j->is_array()) {
      if (j->empty()) return Error(field, "is an empty list");
      return Int(field, j->front(), 0);
    }
    if (!j->is_number_integer()) {
      return WrongType(field, *j, "integer or list of integers");
    }
    return Int(field, *j, 0);
  }

  // A finite number > 0.
  absl::StatusOr<float> OptionalPositiveFloat(const char* field,
                                              float fallback) const {
    const Json* j = Get(field);
    if (j == nullptr) return fallback;
    if (!j->is_number()) return WrongType(field, *j, "number");
    const double v = j->get<double>();
    if (!(v > 0.0) || !std::isfinite(static_cast<float>(v))) {
      return Error(field, absl::StrCat("is ", Snippet(*j),
                                       ", expected a positive finite number"));
    }
    return static_cast<float>(v);
  }

  absl::StatusOr<bool> OptionalBool(const char* field, bool fallback) const {
    const Json* j = Get(field);
    if (j == nullptr) return fallback;
    if (!j->is_boolean()) return WrongType(field, *j, "boolean");
    return j->get<bool>();
  }

  const std::string& path() const { return path_; }

 private:
  const Json& root_;
  std::string path_;
};

#define HR_ASSIGN_OR_RETURN_IMPL(var, tmp, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  var = *std::move(tmp)
#define HR_CONCAT_INNER(a, b) a##b
#define HR_CONCAT(a, b) HR_CONCAT_INNER(a, b)
// Local to this file: assigns the value of a StatusOr or returns its error.
#define HR_ASSIGN_OR_RETURN(var, expr) \
  HR_ASSIGN_OR_RETURN_IMPL(var, HR_CONCAT(status_or_, __LINE__), expr)

// Rejects configs for architectures other than the LLaMA decoder.
absl::Status CheckArchitecture(const ConfigFields& f) {
  if (const Json* mt = f.Get("model_type")) {
    if (!mt->is_string()) return f.WrongType("model_type", *mt, "string");
    const std::string& type = mt->get_ref<const std::string&>();
    bool known = false;
    for (const char* t : kModelTypes) known = known || type == t;
    if (!known) {
      return absl::UnimplementedError(absl::StrCat(
          f.path(), ": model_type \"", type,
          "\" is not supported; this runtime loads LLaMA-architecture models "
          "(model_type \"llama\" or \"mistral\")"));
    }
  }
  if (const Json* arch = f.Get("architectures")) {
    if (!arch->is_array()) {
      return f.WrongType("architectures", *arch, "list of strings");
    }
    bool known = false;
    for (const Json& a : *arch) {
      if (!a.is_string()) {
        return f.WrongType("architectures", *arch, "list of strings");
      }
      for (const char* k : kArchitectures) {
        known = known || a.get_ref<const std::string&>() == k;
      }
    }
    if (!known) {
      return absl::UnimplementedError(
          absl::StrCat(f.path(), ": architectures ", Snippet(*arch),
                       " has no supported architecture (LlamaForCausalLM or "
                       "MistralForCausalLM)"));
    }
  }
  if (const Json* rs = f.Get("rope_scaling")) {
    return absl::UnimplementedError(absl::StrCat(
        f.path(), ": rope_scaling ", Snippet(*rs),
        " is not supported; only plain RoPE (rope_scaling null) is"));
  }
  for (const char* bias : {"attention_bias", "mlp_bias"}) {
    absl::StatusOr<bool> has_bias = f.OptionalBool(bias, false);
    if (!has_bias.ok()) return has_bias.status();
    if (*has_bias) {
      return absl::UnimplementedError(
          absl::StrCat(f.path(), ": ", bias,
                       " is true; projections with biases are not "
                       "supported"));
    }
  }
  for (const char* act : {"hidden_act", "hidden_activation"}) {
    if (const Json* a = f.Get(act)) {
      if (!a->is_string()) return f.WrongType(act, *a, "string");
      if (a->get_ref<const std::string&>() != "silu") {
        return absl::UnimplementedError(
            absl::StrCat(f.path(), ": ", act, " ", Snippet(*a),
                         " is not supported; the FFN computes SwiGLU (silu)"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseConfig(const Json& root,
                                        const std::string& path) {
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected a JSON object, got a ", root.type_name()));
  }
  ConfigFields f(root, path);
  if (absl::Status s = CheckArchitecture(f); !s.ok()) return s;

  ModelConfig c;
  HR_ASSIGN_OR_RETURN(c.dim, f.RequiredPositiveInt("hidden_size"));
  HR_ASSIGN_OR_RETURN(c.hidden_dim, f.RequiredPositiveInt("intermediate_size"));
  HR_ASSIGN_OR_RETURN(c.n_layers, f.RequiredPositiveInt("num_hidden_layers"));
  HR_ASSIGN_OR_RETURN(c.n_heads, f.RequiredPositiveInt("num_attention_heads"));
  HR_ASSIGN_OR_RETURN(c.vocab_size, f.RequiredPositiveInt("vocab_size"));
  HR_ASSIGN_OR_RETURN(c.max_seq_len,
                      f.RequiredPositiveInt("max_position_embeddings"));
  HR_ASSIGN_OR_RETURN(c.n_kv_heads,
                      f.OptionalInt("num_key_value_heads", c.n_heads, 1));
  if (f.Get("head_dim") == nullptr && c.dim % c.n_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": hidden_size (", c.dim,
                     ") is not a multiple of num_attention_heads (", c.n_heads,
                     ") and head_dim is not given"));
  }
  HR_ASSIGN_OR_RETURN(c.head_dim,
                      f.OptionalInt("head_dim", c.dim / c.n_heads, 1));
  HR_ASSIGN_OR_RETURN(c.norm_eps,
                      f.OptionalPositiveFloat("rms_norm_eps", 1e-6f));
  HR_ASSIGN_OR_RETURN(c.rope_theta,
                      f.OptionalPositiveFloat("rope_theta", 10000.0f));
  HR_ASSIGN_OR_RETURN(c.tied_embeddings,
                      f.OptionalBool("tie_word_embeddings", false));
  HR_ASSIGN_OR_RETURN(c.bos_id, f.OptionalTokenId("bos_token_id", 1));
  HR_ASSIGN_OR_RETURN(c.eos_id, f.OptionalTokenId("eos_token_id", 2));
  // Mistral's sliding-window attention equals full attention while the
  // context fits in the window, so cap the context there instead of
  // computing a different function beyond it.
  int window = 0;
  HR_ASSIGN_OR_RETURN(window, f.OptionalInt("sliding_window", 0, 1));
  if (window > 0 && window < c.max_seq_len) c.max_seq_len = window;
  c.rope_style = RopeStyle::kHalf;

  if (c.n_heads % c.n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": num_key_value_heads (", c.n_kv_heads,
        ") does not divide num_attention_heads (", c.n_heads, ")"));
  }
  if (c.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": head_dim ", c.head_dim, " is odd; RoPE needs it even"));
  }
  if (absl::Status s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  return c;
}

// Where each tensor of the checkpoint lives: one file, or the shards of an
// index's weight_map.
class WeightFiles {
 public:
  static absl::StatusOr<WeightFiles> Open(const std::string& dir) {
    WeightFiles w;
    const std::string single = (fs::path(dir) / kWeightsName).string();
    const std::string index = (fs::path(dir) / kIndexName).string();
    std::error_code ec;
    if (fs::exists(single, ec)) {
      HR_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(single));
      for (const auto& [name, info] : file.header().tensors) {
        w.where_.emplace(name, 0);
      }
      w.files_.push_back(std::move(file));
      w.source_ = single;
      return w;
    }
    if (!fs::exists(index, ec)) {
      std::string hint;
      if (fs::exists(fs::path(dir) / "pytorch_model.bin", ec) ||
          fs::exists(fs::path(dir) / "pytorch_model.bin.index.json", ec)) {
        hint =
            " (PyTorch .bin weights are not supported; convert them to "
            "safetensors)";
      }
      return absl::NotFoundError(absl::StrCat(
          dir, " has neither ", kWeightsName, " nor ", kIndexName, hint));
    }
    w.source_ = index;
    HR_ASSIGN_OR_RETURN(Json root, ReadJsonFile(index));
    auto map_it = root.is_object() ? root.find("weight_map") : root.end();
    if (map_it == root.end() || !map_it->is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          index, ": expected an object with a \"weight_map\" object"));
    }
    std::map<std::string, size_t> shard_index;
    for (const auto& [name, shard_json] : map_it->items()) {
      if (!shard_json.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            index, ": weight_map entry for '", name, "' is a JSON ",
            shard_json.type_name(), ", expected a file name"));
      }
      const std::string& shard = shard_json.get_ref<const std::string&>();
      // Shards are plain names beside the index; refuse paths that would
      // reach elsewhere.
      if (shard.empty() || shard == "." || shard == ".." ||
          shard.find('/') != std::string::npos ||
          shard.find('\\') != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            index, ": weight_map entry for '", name, "' names shard \"", shard,
            "\", expected a file name in the same directory"));
      }
      auto [it, inserted] = shard_index.emplace(shard, w.files_.size());
      if (inserted) {
        const std::string shard_path = (fs::path(dir) / shard).string();
        absl::StatusOr<SafetensorsFile> file =
            SafetensorsFile::Open(shard_path);
        if (!file.ok()) {
          return absl::Status(file.status().code(),
                              absl::StrCat(file.status().message(),
                                           " (shard listed in ", index, ")"));
        }
        w.files_.push_back(*std::move(file));
      }
      if (w.files_[it->second].Find(name) == nullptr) {
        return absl::NotFoundError(absl::StrCat(
            "tensor '", name, "' is mapped to ", w.files_[it->second].path(),
            " by ", index, " but that shard does not contain it"));
      }
      w.where_.emplace(name, it->second);
    }
    return w;
  }

  // Every tensor name the checkpoint provides.
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    names.reserve(where_.size());
    for (const auto& [name, file] : where_) names.push_back(name);
    return names;
  }

  bool Has(const std::string& name) const { return where_.count(name) != 0; }

  absl::StatusOr<std::vector<float>> Read(const std::string& name,
                                          std::vector<int64_t> shape) const {
    auto it = where_.find(name);
    if (it == where_.end()) {
      return absl::NotFoundError(
          absl::StrCat("tensor '", name, "' not found in ", source_));
    }
    return files_[it->second].ReadFloat(name, shape);
  }

  absl::StatusOr<Tensor> ReadTensor(const std::string& name, int64_t rows,
                                    int64_t cols,
                                    std::optional<WeightDtype> wanted) const {
    auto it = where_.find(name);
    if (it == where_.end()) {
      return absl::NotFoundError(
          absl::StrCat("tensor '", name, "' not found in ", source_));
    }
    return files_[it->second].ReadTensor(name, rows, cols, wanted);
  }

  const std::string& source() const { return source_; }

 private:
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t, std::less<>> where_;  // name -> files_ index
  std::string source_;  // model.safetensors or the index, for messages
};

std::string LayerName(int layer, const char* suffix) {
  return absl::StrCat("model.layers.", layer, ".", suffix);
}

// Tensors the checkpoint must not have beyond the expected ones: biases (not
// computed) and anything unknown, which would mean a different architecture.
absl::Status CheckNoExtraTensors(const WeightFiles& files,
                                 const std::set<std::string>& expected,
                                 const ModelConfig& c) {
  for (const std::string& name : files.Names()) {
    if (expected.count(name) != 0) continue;
    // Cached RoPE frequencies some exporters save; recomputed at runtime.
    if (absl::EndsWith(name, "rotary_emb.inv_freq")) continue;
    // Tied checkpoints sometimes also store the (identical) classifier.
    if (name == "lm_head.weight" && c.tied_embeddings) continue;
    if (absl::EndsWith(name, ".bias")) {
      return absl::UnimplementedError(absl::StrCat(
          files.source(), ": bias tensor '", name,
          "' is not supported (LLaMA projections have no biases)"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(files.source(), ": unexpected tensor '", name,
                     "' for a LLaMA model with ", c.n_layers,
                     " layers; the checkpoint does not match config.json"));
  }
  return absl::OkStatus();
}

// Rows of a [heads * d, cols] q/k projection, from llama2.c's interleaved
// RoPE pairing (2p, 2p+1) to HF's rotate_half pairing (p, p + d/2): within
// each head, HF row c*(d/2) + p is llama2.c row 2p + c, c in {0, 1}.
std::vector<float> InterleavedToHalfRows(absl::Span<const float> w, int heads,
                                         int d, int cols) {
  std::vector<float> out(w.size());
  const int half = d / 2;
  for (int h = 0; h < heads; ++h) {
    const int64_t base = int64_t{h} * d;
    for (int c = 0; c < 2; ++c) {
      for (int p = 0; p < half; ++p) {
        const float* src = w.data() + (base + 2 * p + c) * cols;
        float* dst = out.data() + (base + c * half + p) * cols;
        std::copy(src, src + cols, dst);
      }
    }
  }
  return out;
}

// The float as JSON with its shortest round-trip decimal (1e-05, not
// 9.999999747378752e-06), read back as the same float.
double ShortestDouble(float v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf) - 1, v);
  if (ec != std::errc()) return v;
  *end = '\0';
  return std::strtod(buf, nullptr);
}

SafetensorsDtype ToSafetensorsDtype(HfDtype dtype) {
  switch (dtype) {
    case HfDtype::kF16:
      return SafetensorsDtype::kF16;
    case HfDtype::kBF16:
      return SafetensorsDtype::kBF16;
    case HfDtype::kF32:
      break;
  }
  return SafetensorsDtype::kF32;
}

const char* TorchDtypeName(HfDtype dtype) {
  switch (dtype) {
    case HfDtype::kF16:
      return "float16";
    case HfDtype::kBF16:
      return "bfloat16";
    case HfDtype::kF32:
      break;
  }
  return "float32";
}

absl::Status WriteTextFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".partial";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return absl::InternalError(absl::StrCat("failed writing ", tmp));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", tmp, " to ", path, ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace

const char* HfDtypeName(HfDtype dtype) {
  switch (dtype) {
    case HfDtype::kF16:
      return "f16";
    case HfDtype::kBF16:
      return "bf16";
    case HfDtype::kF32:
      break;
  }
  return "f32";
}

absl::StatusOr<HfDtype> ParseHfDtype(std::string_view name) {
  if (name == "f32" || name == "float32") return HfDtype::kF32;
  if (name == "f16" || name == "float16") return HfDtype::kF16;
  if (name == "bf16" || name == "bfloat16") return HfDtype::kBF16;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype \"", Sv(name), "\"; expected f32, f16 or bf16"));
}

absl::StatusOr<ModelWeights> LoadHfCheckpoint(
    const std::string& dir, std::optional<WeightDtype> weights_dtype) {
  const std::string config_path = (fs::path(dir) / kConfigName).string();
  std::error_code ec;
  if (!fs::exists(config_path, ec)) {
    return absl::NotFoundError(absl::StrCat(
        config_path, " does not exist: not a Hugging Face model directory"));
  }
  HR_ASSIGN_OR_RETURN(Json root, ReadJsonFile(config_path));
  ModelWeights w;
  HR_ASSIGN_OR_RETURN(w.config, ParseConfig(root, config_path));
  const ModelConfig& c = w.config;
  HR_ASSIGN_OR_RETURN(WeightFiles files, WeightFiles::Open(dir));

  if (!c.tied_embeddings && !files.Has("lm_head.weight")) {
    return absl::NotFoundError(
        absl::StrCat("tensor 'lm_head.weight' not found in ", files.source(),
                     " and tie_word_embeddings is false in ", config_path));
  }
  // Every tensor to read (HfTensorSpecs) and its destination, in the same
  // order: a norm vector or a matrix.
  struct Target {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float>* vector = nullptr;
    Tensor* matrix = nullptr;
  };
  std::vector<Target> targets;
  for (HfTensorSpec& spec : HfTensorSpecs(c)) {
    targets.push_back({std::move(spec.name), std::move(spec.shape)});
  }
  std::vector<Tensor*> matrices = {&w.token_embedding};
  std::vector<std::vector<float>*> vectors;
  w.layers.resize(c.n_layers);
  for (LayerWeights& L : w.layers) {
    vectors.push_back(&L.rms_att);
    matrices.insert(matrices.end(), {&L.wq, &L.wk, &L.wv, &L.wo});
    vectors.push_back(&L.rms_ffn);
    matrices.insert(matrices.end(), {&L.w1, &L.w2, &L.w3});
  }
  vectors.push_back(&w.rms_final);
  if (!c.tied_embeddings) matrices.push_back(&w.wcls);
  for (size_t i = 0, m = 0, v = 0; i < targets.size(); ++i) {
    if (targets[i].shape.size() == 2) {
      targets[i].matrix = matrices[m++];
    } else {
      targets[i].vector = vectors[v++];
    }
  }

  std::set<std::string> expected;
  for (const Target& t : targets) expected.insert(t.name);
  if (absl::Status s = CheckNoExtraTensors(files, expected, c); !s.ok()) {
    return s;
  }
  for (const Target& t : targets) {
    absl::Status finite;
    if (t.vector != nullptr) {
      HR_ASSIGN_OR_RETURN(*t.vector, files.Read(t.name, t.shape));
      finite = CheckFiniteTensor(*t.vector, t.name);
    } else {
      HR_ASSIGN_OR_RETURN(
          *t.matrix,
          files.ReadTensor(t.name, t.shape[0], t.shape[1], weights_dtype));
      finite = CheckFiniteTensor(*t.matrix, t.name);
    }
    if (!finite.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(files.source(), ": ", finite.message()));
    }
  }
  if (absl::Status s = w.Validate(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(dir, ": ", s.message()));
  }
  return w;
}

absl::Status WriteHfCheckpoint(const ModelWeights& weights,
                               const std::string& dir,
                               const HfWriteOptions& options) {
  const ModelConfig& c = weights.config;
  if (absl::Status s = weights.Validate(); !s.ok()) return s;
  for (int l = 0; l < c.n_layers; ++l) {
    if (weights.layers[l].has_post_rope_proj()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot write a Hugging Face checkpoint: layer ", l,
          " has post-RoPE key/query projections (key_cache_proj), which HF "
          "LLaMA cannot express"));
    }
  }
  // g: KV heads of every layer (wk / wv hold g heads when there are no
  // post-RoPE projections).
  const int g = c.CacheKvHeads(0);
  for (int l = 1; l < c.n_layers; ++l) {
    if (c.CacheKvHeads(l) != g) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot write a Hugging Face checkpoint: KV heads differ between "
          "layers (layer 0 has ",
          g, ", layer ", l, " has ", c.CacheKvHeads(l),
          "); HF LLaMA has one num_key_value_heads"));
    }
  }

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create directory ", dir, ": ", ec.message()));
  }

  const int64_t D = c.dim, F = c.hidden_dim, V = c.vocab_size, d = c.head_dim;
  const int64_t q_rows = c.n_heads * d, kv_rows = g * d;
  const bool permute = c.rope_style == RopeStyle::kInterleaved;
  // fp32 copies of the matrices (and permuted wq / wk) live here while the
  // spans point at them.
  std::vector<std::vector<float>> floats;
  floats.reserve(9 * c.n_layers + 2);
  auto f32 = [&floats](const Tensor& t) -> absl::Span<const float> {
    floats.push_back(t.ToFloat());
    return floats.back();
  };

  std::vector<SafetensorsTensorToWrite> tensors;
  tensors.push_back(
      {"model.embed_tokens.weight", {V, D}, f32(weights.token_embedding)});
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = weights.layers[l];
    absl::Span<const float> wq = f32(L.wq), wk = f32(L.wk);
    if (permute) {
      floats.push_back(InterleavedToHalfRows(wq, c.n_heads, d, D));
      wq = floats.back();
      floats.push_back(InterleavedToHalfRows(wk, g, d, D));
      wk = floats.back();
    }
    tensors.push_back({LayerName(l, "input_layernorm.weight"), {D}, L.rms_att});
    tensors.push_back(
        {LayerName(l, "self_attn.q_proj.weight"), {q_rows, D}, wq});
    tensors.push_back(
        {LayerName(l, "self_attn.k_proj.weight"), {kv_rows, D}, wk});
    tensors.push_back(
        {LayerName(l, "self_attn.v_proj.weight"), {kv_rows, D}, f32(L.wv)});
    tensors.push_back(
        {LayerName(l, "self_attn.o_proj.weight"), {D, q_rows}, f32(L.wo)});
    tensors.push_back(
        {LayerName(l, "post_attention_layernorm.weight"), {D}, L.rms_ffn});
    tensors.push_back(
        {LayerName(l, "mlp.gate_proj.weight"), {F, D}, f32(L.w1)});
    tensors.push_back(
        {LayerName(l, "mlp.down_proj.weight"), {D, F}, f32(L.w2)});
    tensors.push_back({LayerName(l, "mlp.up_proj.weight"), {F, D}, f32(L.w3)});
  }
  tensors.push_back({"model.norm.weight", {D}, weights.rms_final});
  if (!c.tied_embeddings) {
    tensors.push_back({"lm_head.weight", {V, D}, f32(weights.wcls)});
  }
  const std::string weights_path = (fs::path(dir) / kWeightsName).string();
  if (absl::Status s = WriteSafetensors(weights_path, tensors,
                                        ToSafetensorsDtype(options.dtype),
                                        {{"format", "pt"}});
      !s.ok()) {
    return s;
  }

  return WriteHfConfig(c, g, options.dtype, dir);
}

absl::Status WriteHfConfig(const ModelConfig& c, int kv_heads, HfDtype dtype,
                           const std::string& dir) {
  Json config = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_act", "silu"},
      {"hidden_size", c.dim},
      {"intermediate_size", c.hidden_dim},
      {"num_hidden_layers", c.n_layers},
      {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", kv_heads},
      {"head_dim", c.head_dim},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_seq_len},
      {"rms_norm_eps", ShortestDouble(c.norm_eps)},
      {"rope_theta", ShortestDouble(c.rope_theta)},
      {"rope_scaling", nullptr},
      {"attention_bias", false},
      {"mlp_bias", false},
      {"tie_word_embeddings", c.tied_embeddings},
      {"bos_token_id", c.bos_id},
      {"eos_token_id", c.eos_id},
      {"torch_dtype", TorchDtypeName(dtype)},
  };
  return WriteTextFile((fs::path(dir) / kConfigName).string(),
                       config.dump(2) + "\n");
}

std::vector<HfTensorSpec> HfTensorSpecs(const ModelConfig& c) {
  const int64_t D = c.dim, F = c.hidden_dim, V = c.vocab_size;
  const int64_t q_rows = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv_rows = int64_t{c.n_kv_heads} * c.head_dim;
  std::vector<HfTensorSpec> specs;
  specs.push_back({"model.embed_tokens.weight", {V, D}});
  for (int l = 0; l < c.n_layers; ++l) {
    specs.push_back({LayerName(l, "input_layernorm.weight"), {D}});
    specs.push_back({LayerName(l, "self_attn.q_proj.weight"), {q_rows, D}});
    specs.push_back({LayerName(l, "self_attn.k_proj.weight"), {kv_rows, D}});
    specs.push_back({LayerName(l, "self_attn.v_proj.weight"), {kv_rows, D}});
    specs.push_back({LayerName(l, "self_attn.o_proj.weight"), {D, q_rows}});
    specs.push_back({LayerName(l, "post_attention_layernorm.weight"), {D}});
    specs.push_back({LayerName(l, "mlp.gate_proj.weight"), {F, D}});
    specs.push_back({LayerName(l, "mlp.down_proj.weight"), {D, F}});
    specs.push_back({LayerName(l, "mlp.up_proj.weight"), {F, D}});
  }
  specs.push_back({"model.norm.weight", {D}});
  if (!c.tied_embeddings) specs.push_back({"lm_head.weight", {V, D}});
  return specs;
}

absl::Status WriteShardedHfCheckpoint(
    const ModelConfig& c, HfDtype dtype, int64_t max_shard_bytes,
    const std::function<void(const HfTensorSpec&, int64_t row, float* out)>&
        rows,
    const std::string& dir) {
  if (max_shard_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_shard_bytes must be positive, got ", max_shard_bytes));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create directory ", dir, ": ", ec.message()));
  }
  const int64_t elem = SafetensorsDtypeSize(ToSafetensorsDtype(dtype));
  // Shards in checkpoint order, each at most max_shard_bytes of tensor data
  // (a tensor larger than that gets a shard of its own), as transformers'
  // save_pretrained splits them.
  const std::vector<HfTensorSpec> specs = HfTensorSpecs(c);
  std::vector<std::vector<const HfTensorSpec*>> shards(1);
  int64_t shard_bytes = 0, total_bytes = 0;
  for (const HfTensorSpec& spec : specs) {
    int64_t bytes = elem;
    for (int64_t dim : spec.shape) bytes *= dim;
    if (shard_bytes > 0 && shard_bytes + bytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&spec);
    shard_bytes += bytes;
    total_bytes += bytes;
  }
  Json weight_map = Json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name =
        absl::StrFormat("model-%05d-of-%05d.safetensors", i + 1, shards.size());
    std::vector<SafetensorsTensorToWrite> tensors;
    for (const HfTensorSpec* spec : shards[i]) {
      SafetensorsTensorToWrite t;
      t.name = spec->name;
      t.shape = spec->shape;
      t.rows = [&rows, spec](int64_t row, float* out) {
        rows(*spec, row, out);
      };
      tensors.push_back(std::move(t));
      weight_map[spec->name] = name;
    }
    if (absl::Status s =
            WriteSafetensors((fs::path(dir) / name).string(), tensors,
                             ToSafetensorsDtype(dtype), {{"format", "pt"}});
        !s.ok()) {
      return s;
    }
  }
  const Json index = {{"metadata", {{"total_size", total_bytes}}},
                      {"weight_map", weight_map}};
  if (absl::Status s = WriteTextFile((fs::path(dir) / kIndexName).string(),
                                     index.dump(2) + "\n");
      !s.ok()) {
    return s;
  }
  return WriteHfConfig(c, c.n_kv_heads, dtype, dir);
}

#undef HR_ASSIGN_OR_RETURN
#undef HR_ASSIGN_OR_RETURN_IMPL
#undef HR_CONCAT
#undef HR_CONCAT_INNER

}  // namespace headroom::runtime
