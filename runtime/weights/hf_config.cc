#include "runtime/weights/hf_config.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/util/status_macros.h"

namespace headroom::runtime {
namespace {

using Json = nlohmann::json;

// Debian's Abseil has its own string_view, which StrCat wants.
absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

// `j` as JSON text for an error message, cut to 80 characters so that a
// hostile file cannot make the message itself huge.
std::string Snippet(const Json& j) {
  std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
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


enum class Family { kLlama, kMistral, kQwen2, kQwen3 };

struct FamilyName {
  Family family;
  const char* model_type;
  const char* architecture;
};
constexpr FamilyName kFamilies[] = {
    {Family::kLlama, "llama", "LlamaForCausalLM"},
    {Family::kMistral, "mistral", "MistralForCausalLM"},
    {Family::kQwen2, "qwen2", "Qwen2ForCausalLM"},
    {Family::kQwen3, "qwen3", "Qwen3ForCausalLM"},
};
constexpr char kSupported[] =
    "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM or "
    "Qwen3ForCausalLM";

// The family from model_type, else from architectures (else LLaMA).
absl::StatusOr<Family> FamilyOf(const ConfigFields& f) {
  if (const Json* mt = f.Get("model_type")) {
    if (!mt->is_string()) return f.WrongType("model_type", *mt, "string");
    for (const FamilyName& n : kFamilies) {
      if (mt->get_ref<const std::string&>() == n.model_type) return n.family;
    }
    return absl::UnimplementedError(
        absl::StrCat(f.path(), ": model_type ", Snippet(*mt),
                     " is not supported; this runtime loads ", kSupported,
                     " (model_type llama, mistral, qwen2 or qwen3)"));
  }
  const Json* arch = f.Get("architectures");
  if (arch == nullptr) return Family::kLlama;
  if (!arch->is_array()) {
    return f.WrongType("architectures", *arch, "list of strings");
  }
  for (const Json& a : *arch) {
    if (!a.is_string()) {
      return f.WrongType("architectures", *arch, "list of strings");
    }
    for (const FamilyName& n : kFamilies) {
      if (a.get_ref<const std::string&>() == n.architecture) return n.family;
    }
  }
  return absl::UnimplementedError(
      absl::StrCat(f.path(), ": architectures ", Snippet(*arch),
                   " has no supported architecture (", kSupported, ")"));
}

absl::StatusOr<float> RequiredFactor(const ConfigFields& f, const char* field) {
  if (f.Get(field) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(f.path(), ": required field \"", field, "\" is missing"));
  }
  return f.OptionalPositiveFloat(field, 1.0f);
}

// rope_scaling: null, {"rope_type": "default" | "linear" | "llama3", ...}
// ("type" in older configs).
absl::StatusOr<RopeScaling> ParseRopeScaling(const ConfigFields& top) {
  RopeScaling r;
  const Json* rs = top.Get("rope_scaling");
  if (rs == nullptr) return r;
  if (!rs->is_object()) return top.WrongType("rope_scaling", *rs, "object");
  const ConfigFields f(*rs, top.path() + ": rope_scaling");
  const Json* type = f.Get("rope_type");
  if (type == nullptr) type = f.Get("type");
  if (type == nullptr) return f.Error("rope_type", "is missing");
  if (!type->is_string()) return f.WrongType("rope_type", *type, "string");
  const std::string& name = type->get_ref<const std::string&>();
  if (name == "default") return r;
  if (name == "linear") {
    r.type = RopeScaling::Type::kLinear;
    HEADROOM_ASSIGN_OR_RETURN(r.factor, RequiredFactor(f, "factor"));
    return r;
  }
  if (name == "llama3") {
    r.type = RopeScaling::Type::kLlama3;
    HEADROOM_ASSIGN_OR_RETURN(r.factor, RequiredFactor(f, "factor"));
    HEADROOM_ASSIGN_OR_RETURN(r.low_freq_factor,
                        RequiredFactor(f, "low_freq_factor"));
    HEADROOM_ASSIGN_OR_RETURN(r.high_freq_factor,
                        RequiredFactor(f, "high_freq_factor"));
    HEADROOM_ASSIGN_OR_RETURN(
        r.original_max_position,
        f.RequiredPositiveInt("original_max_position_embeddings"));
    return r;
  }
  return absl::UnimplementedError(absl::StrCat(
      f.path(), ": rope_type \"", name,
      "\" is not supported; supported: default, linear, llama3 (\"dynamic\" "
      "rescales by the current length, which would change the rotation of "
      "keys already cached)"));
}

// Qwen2/3 windows apply to some layers only (max_window_layers).
absl::Status RefuseQwenWindows(const ConfigFields& f) {
  absl::StatusOr<bool> windows = f.OptionalBool("use_sliding_window", false);
  if (!windows.ok()) return windows.status();
  if (*windows) {
    return absl::UnimplementedError(
        absl::StrCat(f.path(),
                     ": use_sliding_window is true; per-layer sliding windows "
                     "(max_window_layers) are not supported"));
  }
  return absl::OkStatus();
}

absl::Status RefuseFlag(const ConfigFields& f, const char* field,
                        const char* architecture) {
  absl::StatusOr<bool> set = f.OptionalBool(field, false);
  if (!set.ok()) return set.status();
  if (*set) {
    return absl::UnimplementedError(
        absl::StrCat(f.path(), ": ", field, " is true, which ", architecture,
                     " does not define"));
  }
  return absl::OkStatus();
}

// The architecture's own features: biases, norms, windows.
absl::Status ParseFamilyFeatures(const ConfigFields& f, Family family,
                                 ModelConfig* c) {
  switch (family) {
    case Family::kLlama: {
      HEADROOM_ASSIGN_OR_RETURN(const bool attention_bias,
                          f.OptionalBool("attention_bias", false));
      c->qkv_bias = c->output_bias = attention_bias;
      HEADROOM_ASSIGN_OR_RETURN(c->mlp_bias, f.OptionalBool("mlp_bias", false));
      return absl::OkStatus();
    }
    case Family::kMistral: {
      for (const char* flag : {"attention_bias", "mlp_bias"}) {
        if (auto s = RefuseFlag(f, flag, "MistralForCausalLM"); !s.ok()) {
          return s;
        }
      }
      HEADROOM_ASSIGN_OR_RETURN(const int window,
                          f.OptionalInt("sliding_window", 0, 1));
      // A window as long as the context changes nothing.
      c->sliding_window = window < c->max_seq_len ? window : 0;
      return absl::OkStatus();
    }
    case Family::kQwen2: {
      if (auto s = RefuseFlag(f, "mlp_bias", "Qwen2ForCausalLM"); !s.ok()) {
        return s;
      }
      c->qkv_bias = true;
      return RefuseQwenWindows(f);
    }
    case Family::kQwen3: {
      if (auto s = RefuseFlag(f, "mlp_bias", "Qwen3ForCausalLM"); !s.ok()) {
        return s;
      }
      HEADROOM_ASSIGN_OR_RETURN(const bool attention_bias,
                          f.OptionalBool("attention_bias", false));
      c->qkv_bias = c->output_bias = attention_bias;
      c->qk_norm = true;
      return RefuseQwenWindows(f);
    }
  }
  return absl::OkStatus();
}

absl::Status CheckActivation(const ConfigFields& f) {
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

}  // namespace

absl::StatusOr<ModelConfig> ParseHfConfig(const Json& root,
                                          const std::string& path) {
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected a JSON object, got a ", root.type_name()));
  }
  ConfigFields f(root, path);
  HEADROOM_ASSIGN_OR_RETURN(const Family family, FamilyOf(f));
  if (absl::Status s = CheckActivation(f); !s.ok()) return s;

  ModelConfig c;
  HEADROOM_ASSIGN_OR_RETURN(c.dim, f.RequiredPositiveInt("hidden_size"));
  HEADROOM_ASSIGN_OR_RETURN(c.hidden_dim, f.RequiredPositiveInt("intermediate_size"));
  HEADROOM_ASSIGN_OR_RETURN(c.n_layers, f.RequiredPositiveInt("num_hidden_layers"));
  HEADROOM_ASSIGN_OR_RETURN(c.n_heads, f.RequiredPositiveInt("num_attention_heads"));
  HEADROOM_ASSIGN_OR_RETURN(c.vocab_size, f.RequiredPositiveInt("vocab_size"));
  HEADROOM_ASSIGN_OR_RETURN(c.max_seq_len,
                      f.RequiredPositiveInt("max_position_embeddings"));
  HEADROOM_ASSIGN_OR_RETURN(c.n_kv_heads,
                      f.OptionalInt("num_key_value_heads", c.n_heads, 1));
  if (f.Get("head_dim") == nullptr && c.dim % c.n_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": hidden_size (", c.dim,
                     ") is not a multiple of num_attention_heads (", c.n_heads,
                     ") and head_dim is not given"));
  }
  HEADROOM_ASSIGN_OR_RETURN(c.head_dim,
                      f.OptionalInt("head_dim", c.dim / c.n_heads, 1));
  HEADROOM_ASSIGN_OR_RETURN(c.norm_eps,
                      f.OptionalPositiveFloat("rms_norm_eps", 1e-6f));
  HEADROOM_ASSIGN_OR_RETURN(c.rope_theta,
                      f.OptionalPositiveFloat("rope_theta", 10000.0f));
  HEADROOM_ASSIGN_OR_RETURN(c.rope_scaling, ParseRopeScaling(f));
  HEADROOM_ASSIGN_OR_RETURN(c.tied_embeddings,
                      f.OptionalBool("tie_word_embeddings", false));
  HEADROOM_ASSIGN_OR_RETURN(c.bos_id, f.OptionalTokenId("bos_token_id", 1));
  HEADROOM_ASSIGN_OR_RETURN(c.eos_id, f.OptionalTokenId("eos_token_id", 2));
  c.rope_style = RopeStyle::kHalf;
  if (absl::Status s = ParseFamilyFeatures(f, family, &c); !s.ok()) return s;

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

const char* HfArchitectureName(const ModelConfig& c) {
  if (c.qk_norm) return "Qwen3ForCausalLM";
  if (c.qkv_bias && !c.output_bias) return "Qwen2ForCausalLM";
  if (c.sliding_window > 0) return "MistralForCausalLM";
  return "LlamaForCausalLM";
}

Json HfConfigJson(const ModelConfig& c, int kv_heads, const char* torch_dtype) {
  const std::string arch = HfArchitectureName(c);
  const char* model_type = "llama";
  for (const FamilyName& n : kFamilies) {
    if (arch == n.architecture) model_type = n.model_type;
  }
  Json config = {
      {"architectures", {arch}},
      {"model_type", model_type},
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
      {"tie_word_embeddings", c.tied_embeddings},
      {"bos_token_id", c.bos_id},
      {"eos_token_id", c.eos_id},
      {"torch_dtype", torch_dtype},
  };
  const RopeScaling& r = c.rope_scaling;
  if (r.type == RopeScaling::Type::kLinear) {
    config["rope_scaling"] = {{"rope_type", "linear"},
                              {"factor", ShortestDouble(r.factor)}};
  } else if (r.type == RopeScaling::Type::kLlama3) {
    config["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", ShortestDouble(r.factor)},
        {"low_freq_factor", ShortestDouble(r.low_freq_factor)},
        {"high_freq_factor", ShortestDouble(r.high_freq_factor)},
        {"original_max_position_embeddings", r.original_max_position}};
  }
  if (arch == "LlamaForCausalLM" || arch == "Qwen3ForCausalLM") {
    config["attention_bias"] = c.qkv_bias;
  }
  if (arch == "LlamaForCausalLM") config["mlp_bias"] = c.mlp_bias;
  if (arch == "MistralForCausalLM") config["sliding_window"] = c.sliding_window;
  if (arch == "Qwen2ForCausalLM" || arch == "Qwen3ForCausalLM") {
    config["use_sliding_window"] = false;
  }
  return config;
}

}  // namespace headroom::runtime
