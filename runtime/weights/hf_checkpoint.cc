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
#include "runtime/util/status_macros.h"
#include "runtime/weights/hf_config.h"
#include "runtime/weights/safetensors.h"

namespace headroom::runtime {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr char kConfigName[] = "config.json";
constexpr char kWeightsName[] = "model.safetensors";
constexpr char kIndexName[] = "model.safetensors.index.json";

// Debian's Abseil has its own string_view, which StrCat wants.
absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

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
      HEADROOM_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(single));
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
    HEADROOM_ASSIGN_OR_RETURN(Json root, ReadJsonFile(index));
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
      return absl::InvalidArgumentError(
          absl::StrCat(files.source(), ": bias tensor '", name,
                       "' but config.json's ", HfArchitectureName(c),
                       " has no such bias (attention_bias / mlp_bias false)"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(files.source(), ": unexpected tensor '", name, "' for a ",
                     HfArchitectureName(c), " model with ", c.n_layers,
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
  HEADROOM_ASSIGN_OR_RETURN(Json root, ReadJsonFile(config_path));
  ModelWeights w;
  HEADROOM_ASSIGN_OR_RETURN(w.config, ParseHfConfig(root, config_path));
  const ModelConfig& c = w.config;
  HEADROOM_ASSIGN_OR_RETURN(WeightFiles files, WeightFiles::Open(dir));

  if (!c.tied_embeddings && !files.Has("lm_head.weight")) {
    return absl::NotFoundError(
        absl::StrCat("tensor 'lm_head.weight' not found in ", files.source(),
                     " and tie_word_embeddings is false in ", config_path));
  }
  // Every tensor to read (HfTensorSpecs) and where it goes.
  w.layers.resize(c.n_layers);
  const std::vector<HfTensorSpec> specs = HfTensorSpecs(c);
  std::set<std::string> expected;
  for (const HfTensorSpec& spec : specs) expected.insert(spec.name);
  if (absl::Status s = CheckNoExtraTensors(files, expected, c); !s.ok()) {
    return s;
  }
  for (const HfTensorSpec& spec : specs) {
    const HfTensorSlot slot = SlotOf(w, spec);
    absl::Status finite;
    if (slot.vector != nullptr) {
      HEADROOM_ASSIGN_OR_RETURN(*slot.vector, files.Read(spec.name, spec.shape));
      finite = CheckFiniteTensor(*slot.vector, spec.name);
    } else {
      HEADROOM_ASSIGN_OR_RETURN(*slot.matrix,
                          files.ReadTensor(spec.name, spec.shape[0],
                                           spec.shape[1], weights_dtype));
      finite = CheckFiniteTensor(*slot.matrix, spec.name);
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

  const int64_t D = c.dim, d = c.head_dim;
  const bool permute = c.rope_style == RopeStyle::kInterleaved;
  // fp32 copies of the matrices (and of the permuted q / k rows) live here
  // while the spans point at them.
  std::vector<std::vector<float>> floats;
  std::vector<SafetensorsTensorToWrite> tensors;
  // SlotOf hands out mutable slots; this loop only reads through them.
  ModelWeights& source = const_cast<ModelWeights&>(weights);
  for (const HfTensorSpec& spec : HfTensorSpecs(c, g)) {
    const HfTensorSlot slot = SlotOf(source, spec);
    absl::Span<const float> values;
    if (slot.matrix != nullptr) {
      floats.push_back(slot.matrix->ToFloat());
      values = floats.back();
    } else {
      values = *slot.vector;
    }
    // llama2.c's q and k rows (and their biases) pair RoPE coordinates
    // (2p, 2p+1); HF's pair (p, p + d/2).
    const std::string_view f = spec.field;
    if (permute && (f == "wq" || f == "wk" || f == "bq" || f == "bk")) {
      const int heads = static_cast<int>(spec.shape[0] / d);
      const int cols = spec.shape.size() == 2 ? static_cast<int>(D) : 1;
      floats.push_back(InterleavedToHalfRows(values, heads, d, cols));
      values = floats.back();
    }
    tensors.push_back({spec.name, spec.shape, values});
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
  return WriteTextFile(
      (fs::path(dir) / kConfigName).string(),
      HfConfigJson(c, kv_heads, TorchDtypeName(dtype)).dump(2) + "\n");
}

std::vector<HfTensorSpec> HfTensorSpecs(const ModelConfig& c, int kv_heads) {
  const int64_t D = c.dim, F = c.hidden_dim, V = c.vocab_size;
  const int64_t d = c.head_dim;
  const int64_t q_rows = int64_t{c.n_heads} * d;
  const int64_t kv_rows = int64_t{kv_heads > 0 ? kv_heads : c.n_kv_heads} * d;
  std::vector<HfTensorSpec> specs;
  specs.push_back({"model.embed_tokens.weight", {V, D}, -1, "token_embedding"});
  for (int l = 0; l < c.n_layers; ++l) {
    auto add = [&](const char* suffix, std::vector<int64_t> shape,
                   const char* field) {
      specs.push_back({LayerName(l, suffix), std::move(shape), l, field});
    };
    add("input_layernorm.weight", {D}, "rms_att");
    add("self_attn.q_proj.weight", {q_rows, D}, "wq");
    add("self_attn.k_proj.weight", {kv_rows, D}, "wk");
    add("self_attn.v_proj.weight", {kv_rows, D}, "wv");
    add("self_attn.o_proj.weight", {D, q_rows}, "wo");
    if (c.qkv_bias) {
      add("self_attn.q_proj.bias", {q_rows}, "bq");
      add("self_attn.k_proj.bias", {kv_rows}, "bk");
      add("self_attn.v_proj.bias", {kv_rows}, "bv");
    }
    if (c.output_bias) add("self_attn.o_proj.bias", {D}, "bo");
    if (c.qk_norm) {
      add("self_attn.q_norm.weight", {d}, "q_norm");
      add("self_attn.k_norm.weight", {d}, "k_norm");
    }
    add("post_attention_layernorm.weight", {D}, "rms_ffn");
    add("mlp.gate_proj.weight", {F, D}, "w1");
    add("mlp.down_proj.weight", {D, F}, "w2");
    add("mlp.up_proj.weight", {F, D}, "w3");
    if (c.mlp_bias) {
      add("mlp.gate_proj.bias", {F}, "b1");
      add("mlp.down_proj.bias", {D}, "b2");
      add("mlp.up_proj.bias", {F}, "b3");
    }
  }
  specs.push_back({"model.norm.weight", {D}, -1, "rms_final"});
  if (!c.tied_embeddings) {
    specs.push_back({"lm_head.weight", {V, D}, -1, "wcls"});
  }
  return specs;
}

HfTensorSlot SlotOf(ModelWeights& w, const HfTensorSpec& spec) {
  const std::string_view f = spec.field;
  if (spec.layer < 0) {
    if (f == "token_embedding") return {&w.token_embedding, nullptr};
    if (f == "wcls") return {&w.wcls, nullptr};
    return {nullptr, &w.rms_final};
  }
  LayerWeights& L = w.layers[spec.layer];
  const std::pair<const char*, Tensor*> matrices[] = {
      {"wq", &L.wq}, {"wk", &L.wk}, {"wv", &L.wv}, {"wo", &L.wo},
      {"w1", &L.w1}, {"w2", &L.w2}, {"w3", &L.w3}};
  for (const auto& [name, t] : matrices) {
    if (f == name) return {t, nullptr};
  }
  for (const auto& [v, name] : L.Vectors()) {
    if (f == name) return {nullptr, const_cast<std::vector<float>*>(v)};
  }
  return {};
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


}  // namespace headroom::runtime
