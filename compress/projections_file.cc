#include "compress/projections_file.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "compress/head_order.h"
#include "nlohmann/json.hpp"
#include "runtime/model/model_weights.h"
#include "runtime/util/sha256.h"
#include "runtime/weights/safetensors.h"

namespace headroom::compress {
namespace {

using nlohmann::json;

constexpr char kFormatName[] = "headroom-projections";
// Metadata key of the SHA-256 over the tensors (TensorDigest).
constexpr char kDigestKey[] = "tensor_sha256";

// SHA-256 over every tensor in the order SaveProjections writes them: name,
// shape and the little-endian fp32 values (what the file stores, as F32).
class TensorDigest {
 public:
  void Add(const std::string& name, const std::vector<int64_t>& shape,
           absl::Span<const float> values) {
    std::string head = name;
    head += '\0';
    for (int64_t dim : shape) absl::StrAppend(&head, dim, ",");
    head += '\0';
    sha_.Update(head.data(), head.size());
    sha_.Update(values.data(), values.size() * sizeof(float));
  }
  std::string Hex() { return sha_.HexDigest(); }

 private:
  runtime::Sha256 sha_;
};

json LayersJson(const Projections& p) {
  json layers = json::array();
  for (const LayerProjection& l : p.layers) {
    const int t = p.n_kv_heads / l.kv_heads;
    json groups = json::array();
    for (int i = 0; i < l.kv_heads; ++i) {
      json members = json::array();
      for (int s = 0; s < t; ++s) {
        const int slot = i * t + s;
        members.push_back(l.kv_order.empty() ? slot : l.kv_order[slot]);
      }
      groups.push_back(members);
    }
    layers.push_back({{"method", l.method},
                      {"kv_heads", l.kv_heads},
                      {"key_mode", KeyModeName(l.key_mode)},
                      {"groups", groups},
                      {"key_energy", l.key_energy},
                      {"value_energy", l.value_energy},
                      {"output_error", l.output_error},
                      {"refit_wo", !l.wo.empty()}});
    if (!l.kv_order.empty()) layers.back()["kv_order"] = l.kv_order;
  }
  return layers;
}

absl::Status Invalid(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat("projections file ", path, ": ", what));
}

// DataLoss naming the file when its metadata's tensor digest differs from
// `computed`; OK when they agree or the file has none (older files).
absl::Status CheckDigest(
    const std::string& path,
    const std::map<std::string, std::string, std::less<>>& meta,
    const std::string& computed) {
  auto it = meta.find(kDigestKey);
  if (it == meta.end() || it->second == computed) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      "projections file ", path, ": the tensors do not match the file's ",
      kDigestKey, " (metadata ", it->second, ", data ", computed,
      "): the file is corrupt; recreate it with headroom-compress"));
}

}  // namespace

const char* KeyModeName(KeyMode mode) {
  return mode == KeyMode::kPreRope ? "pre_rope" : "post_rope";
}

std::vector<int> Projections::KvHeadsPerLayer() const {
  std::vector<int> out;
  for (const LayerProjection& l : layers) out.push_back(l.kv_heads);
  return out;
}

// Version 1 unless a layer regroups its heads (what version 1 readers
// could not apply).
int FormatVersionFor(const Projections& p) {
  for (const LayerProjection& l : p.layers) {
    if (!l.kv_order.empty()) return kProjectionsFormatVersion;
  }
  return 1;
}

std::string ProjectionsSummaryJson(const Projections& p) {
  json j = {{"format", kFormatName},
            {"format_version", FormatVersionFor(p)},
            {"method", p.method},
            {"model_digest", p.model_digest},
            {"calibration_digest", p.calibration_digest},
            {"calibration_tokens", p.calibration_tokens},
            {"n_layers", p.n_layers},
            {"dim", p.dim},
            {"n_heads", p.n_heads},
            {"n_kv_heads", p.n_kv_heads},
            {"head_dim", p.head_dim},
            {"kv_heads_per_layer", p.KvHeadsPerLayer()},
            {"layers", LayersJson(p)}};
  if (!p.decision.empty()) {
    j["decision"] = json::parse(p.decision, nullptr, false);
  }
  return j.dump();
}

absl::Status SaveProjections(const Projections& p, const std::string& path) {
  std::map<std::string, std::string> meta;
  const json summary = json::parse(ProjectionsSummaryJson(p));
  for (auto it = summary.begin(); it != summary.end(); ++it) {
    meta[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  }
  const int64_t d = p.head_dim, h = p.n_heads, D = p.dim;
  std::vector<runtime::SafetensorsTensorToWrite> tensors;
  for (size_t l = 0; l < p.layers.size(); ++l) {
    const LayerProjection& lp = p.layers[l];
    const int64_t g = lp.kv_heads, td = (p.n_kv_heads / lp.kv_heads) * d;
    const std::string prefix = absl::StrCat("layers.", l, ".");
    tensors.push_back({prefix + "key_encoder", {g, d, td}, lp.key_encoder});
    tensors.push_back({prefix + "query_decoder", {h, d, d}, lp.query_decoder});
    tensors.push_back({prefix + "value_encoder", {g, d, td}, lp.value_encoder});
    tensors.push_back({prefix + "value_decoder", {h, d, d}, lp.value_decoder});
    if (!lp.wo.empty()) tensors.push_back({prefix + "wo", {D, h * d}, lp.wo});
  }
  TensorDigest digest;
  for (const auto& t : tensors) digest.Add(t.name, t.shape, t.values);
  meta[kDigestKey] = digest.Hex();
  return runtime::WriteSafetensors(path, tensors,
                                   runtime::SafetensorsDtype::kF32, meta);
}

absl::StatusOr<Projections> LoadProjections(const std::string& path) {
  auto file = runtime::SafetensorsFile::Open(path);
  if (!file.ok()) return file.status();
  const auto& meta = file->header().metadata;
  auto get = [&](const char* key) -> absl::StatusOr<std::string> {
    auto it = meta.find(key);
    if (it == meta.end())
      return Invalid(path, absl::StrCat("metadata has no '", key, "'"));
    return it->second;
  };
  auto get_int = [&](const char* key) -> absl::StatusOr<int64_t> {
    auto v = get(key);
    if (!v.ok()) return v.status();
    int64_t out;
    if (!absl::SimpleAtoi(*v, &out)) {
      return Invalid(
          path, absl::StrCat("metadata '", key, "' is not an integer: ", *v));
    }
    return out;
  };
  auto format = get("format");
  if (!format.ok()) return format.status();
  if (*format != kFormatName) {
    return Invalid(path, absl::StrCat("format is '", *format, "', expected '",
                                      kFormatName, "'"));
  }
  auto version = get_int("format_version");
  if (!version.ok()) return version.status();
  if (*version < 1 || *version > kProjectionsFormatVersion) {
    return Invalid(path, absl::StrCat("format_version ", *version,
                                      " is not supported (this build reads 1 "
                                      "to ",
                                      kProjectionsFormatVersion, ")"));
  }
  Projections p;
  for (auto [key, field] :
       {std::pair{"method", &p.method},
        std::pair{"model_digest", &p.model_digest},
        std::pair{"calibration_digest", &p.calibration_digest}}) {
    auto v = get(key);
    if (!v.ok()) return v.status();
    *field = *v;
  }
  int64_t ints[6];
  const char* int_keys[6] = {"calibration_tokens", "n_layers", "dim", "n_heads",
                             "n_kv_heads",         "head_dim"};
  for (int i = 0; i < 6; ++i) {
    auto v = get_int(int_keys[i]);
    if (!v.ok()) return v.status();
    if (*v < 0 || (i > 0 && (*v <= 0 || *v > (1 << 20)))) {
      return Invalid(path, absl::StrCat("metadata '", int_keys[i],
                                        "' is out of range: ", *v));
    }
    ints[i] = *v;
  }
  p.calibration_tokens = ints[0];
  p.n_layers = static_cast<int>(ints[1]);
  p.dim = static_cast<int>(ints[2]);
  p.n_heads = static_cast<int>(ints[3]);
  p.n_kv_heads = static_cast<int>(ints[4]);
  p.head_dim = static_cast<int>(ints[5]);
  // "auto_selection": what files before the decision record called it.
  for (const char* key : {"decision", "auto_selection"}) {
    if (auto it = meta.find(key); it != meta.end() && p.decision.empty()) {
      p.decision = it->second;
    }
  }
  auto layers_text = get("layers");
  if (!layers_text.ok()) return layers_text.status();
  const json layers =
      json::parse(*layers_text, nullptr, /*allow_exceptions=*/false);
  if (!layers.is_array() || static_cast<int>(layers.size()) != p.n_layers) {
    return Invalid(path,
                   absl::StrCat("metadata 'layers' must be a JSON array of ",
                                p.n_layers, " objects"));
  }
  const int64_t d = p.head_dim, h = p.n_heads, D = p.dim;
  TensorDigest digest;
  for (int l = 0; l < p.n_layers; ++l) {
    const json& lj = layers[l];
    const std::string where = absl::StrCat("layers[", l, "]");
    if (!lj.is_object() || !lj.contains("kv_heads") ||
        !lj["kv_heads"].is_number_integer() || !lj.contains("key_mode") ||
        !lj["key_mode"].is_string() || !lj.contains("method") ||
        !lj["method"].is_string()) {
      return Invalid(path, where + " needs method, kv_heads and key_mode");
    }
    LayerProjection lp;
    lp.method = lj["method"].get<std::string>();
    lp.kv_heads = lj["kv_heads"].get<int>();
    if (lp.kv_heads <= 0 || p.n_kv_heads % lp.kv_heads != 0) {
      return Invalid(
          path, absl::StrCat(where, ".kv_heads = ", lp.kv_heads,
                             " does not divide n_kv_heads = ", p.n_kv_heads));
    }
    const std::string mode = lj["key_mode"].get<std::string>();
    if (mode == "pre_rope") {
      lp.key_mode = KeyMode::kPreRope;
    } else if (mode == "post_rope") {
      lp.key_mode = KeyMode::kPostRope;
    } else {
      return Invalid(path, absl::StrCat(where, ".key_mode '", mode,
                                        "' is neither pre_rope nor post_rope"));
    }
    for (auto [key, field] : {std::pair{"key_energy", &lp.key_energy},
                              std::pair{"value_energy", &lp.value_energy},
                              std::pair{"output_error", &lp.output_error}}) {
      if (lj.contains(key) && lj[key].is_number())
        *field = lj[key].get<double>();
    }
    if (lj.contains("kv_order")) {
      const json& order = lj["kv_order"];
      bool ints = order.is_array();
      for (const json& v : order) ints = ints && v.is_number_integer();
      if (!ints) {
        return Invalid(path, where + ".kv_order must be an array of integers");
      }
      lp.kv_order = order.get<std::vector<int>>();
      if (auto s =
              CheckHeadOrder(lp.kv_order, p.n_kv_heads, where + ".kv_order");
          !s.ok()) {
        return Invalid(path, std::string(s.message()));
      }
      if (*version < 2) {
        return Invalid(path, where + ".kv_order needs format_version 2");
      }
    }
    const int64_t g = lp.kv_heads, td = (p.n_kv_heads / lp.kv_heads) * d;
    const std::string prefix = absl::StrCat("layers.", l, ".");
    struct Item {
      const char* name;
      std::vector<int64_t> shape;
      std::vector<float>* field;
    };
    for (const Item& it :
         {Item{"key_encoder", {g, d, td}, &lp.key_encoder},
          Item{"query_decoder", {h, d, d}, &lp.query_decoder},
          Item{"value_encoder", {g, d, td}, &lp.value_encoder},
          Item{"value_decoder", {h, d, d}, &lp.value_decoder}}) {
      auto v = file->ReadFloat(prefix + it.name, it.shape);
      if (!v.ok()) return v.status();
      *it.field = std::move(*v);
      digest.Add(prefix + it.name, it.shape, *it.field);
      if (auto s = runtime::CheckFiniteTensor(*it.field, prefix + it.name);
          !s.ok()) {
        return Invalid(path, std::string(s.message()));
      }
    }
    if (file->Find(prefix + "wo") != nullptr) {
      auto v = file->ReadFloat(prefix + "wo", {D, h * d});
      if (!v.ok()) return v.status();
      lp.wo = std::move(*v);
      digest.Add(prefix + "wo", {D, h * d}, lp.wo);
    }
    p.layers.push_back(std::move(lp));
  }
  if (auto s = CheckDigest(path, meta, digest.Hex()); !s.ok()) return s;
  p.content_digest_checked = meta.count(kDigestKey) != 0;
  return p;
}

}  // namespace headroom::compress
