#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/weights/hf_checkpoint.h"
#include "runtime/weights/llama2c_checkpoint.h"
#include "runtime/weights/model_loader.h"
#include "runtime/weights/safetensors.h"
#include "tests/test_support.h"

namespace headroom::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::json;

// A small GQA model: D 16, 4 query heads and 2 KV heads of d = 4, FFN 24,
// 2 layers, vocab 32. Values are random so that permutations show.
ModelWeights MakeWeights(bool tied, RopeStyle rope_style) {
  ModelWeights w;
  ModelConfig& c = w.config;
  c.dim = 16;
  c.hidden_dim = 24;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 4;
  c.vocab_size = 32;
  c.max_seq_len = 64;
  c.rope_theta = 500000.0f;
  c.rope_style = rope_style;
  c.norm_eps = 1e-5f;
  c.tied_embeddings = tied;
  c.bos_id = 1;
  c.eos_id = 2;
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  auto fill = [&](std::vector<float>& v, int64_t n) {
    v.resize(n);
    for (float& x : v) x = dist(rng);
  };
  auto fill_matrix = [&](Tensor& t, int64_t rows, int64_t cols) {
    std::vector<float> v;
    fill(v, rows * cols);
    t = Tensor::FromF32(std::move(v), rows, cols);
  };
  const int64_t D = c.dim, F = c.hidden_dim, q = c.n_heads * c.head_dim,
                kv = c.n_kv_heads * c.head_dim;
  fill_matrix(w.token_embedding, c.vocab_size, D);
  w.layers.resize(c.n_layers);
  for (LayerWeights& l : w.layers) {
    fill(l.rms_att, D);
    fill_matrix(l.wq, q, D);
    fill_matrix(l.wk, kv, D);
    fill_matrix(l.wv, kv, D);
    fill_matrix(l.wo, D, q);
    fill(l.rms_ffn, D);
    fill_matrix(l.w1, F, D);
    fill_matrix(l.w2, D, F);
    fill_matrix(l.w3, F, D);
  }
  fill(w.rms_final, D);
  if (!tied) fill_matrix(w.wcls, c.vocab_size, D);
  return w;
}

void ExpectConfigEq(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.hidden_dim, b.hidden_dim);
  EXPECT_EQ(a.n_layers, b.n_layers);
  EXPECT_EQ(a.n_heads, b.n_heads);
  EXPECT_EQ(a.n_kv_heads, b.n_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_seq_len, b.max_seq_len);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.tied_embeddings, b.tied_embeddings);
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
}

// Calls f(name, expected, actual) for every tensor but wq / wk.
void ForEachNonRopeTensor(
    const ModelWeights& a, const ModelWeights& b,
    const std::function<void(const std::string&, const std::vector<float>&,
                             const std::vector<float>&)>& f) {
  f("token_embedding", a.token_embedding.ToFloat(),
    b.token_embedding.ToFloat());
  f("rms_final", a.rms_final, b.rms_final);
  f("wcls", a.wcls.ToFloat(), b.wcls.ToFloat());
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const LayerWeights &x = a.layers[l], &y = b.layers[l];
    const std::string p = "layers." + std::to_string(l) + ".";
    f(p + "rms_att", x.rms_att, y.rms_att);
    f(p + "wv", x.wv.ToFloat(), y.wv.ToFloat());
    f(p + "wo", x.wo.ToFloat(), y.wo.ToFloat());
    f(p + "rms_ffn", x.rms_ffn, y.rms_ffn);
    f(p + "w1", x.w1.ToFloat(), y.w1.ToFloat());
    f(p + "w2", x.w2.ToFloat(), y.w2.ToFloat());
    f(p + "w3", x.w3.ToFloat(), y.w3.ToFloat());
  }
}

void ExpectAllTensorsEq(const ModelWeights& a, const ModelWeights& b) {
  auto eq = [](const std::string& name, const std::vector<float>& x,
               const std::vector<float>& y) { EXPECT_EQ(x, y) << name; };
  ForEachNonRopeTensor(a, b, eq);
  for (size_t l = 0; l < a.layers.size(); ++l) {
    EXPECT_EQ(a.layers[l].wq.ToFloat(), b.layers[l].wq.ToFloat())
        << "layer " << l;
    EXPECT_EQ(a.layers[l].wk.ToFloat(), b.layers[l].wk.ToFloat())
        << "layer " << l;
  }
}

// Row (head, c*(d/2) + p) of an HF q/k matrix is row (head, 2p + c) of the
// llama2.c one (the contract of WriteHfCheckpoint for interleaved RoPE).
void ExpectRowsPermuted(const std::vector<float>& llama2c,
                        const std::vector<float>& hf, int heads, int d,
                        int cols, const std::string& name) {
  ASSERT_EQ(llama2c.size(), hf.size()) << name;
  ASSERT_EQ(hf.size(), static_cast<size_t>(heads) * d * cols) << name;
  for (int h = 0; h < heads; ++h) {
    for (int c = 0; c < 2; ++c) {
      for (int p = 0; p < d / 2; ++p) {
        const size_t hf_row = static_cast<size_t>(h) * d + c * (d / 2) + p;
        const size_t src_row = static_cast<size_t>(h) * d + 2 * p + c;
        for (int k = 0; k < cols; ++k) {
          ASSERT_EQ(hf[hf_row * cols + k], llama2c[src_row * cols + k])
              << name << " head " << h << " c " << c << " p " << p;
        }
      }
    }
  }
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

Json ReadConfig(const std::string& dir) {
  return testing::ReadJsonFile(dir + "/config.json");
}

void WriteConfig(const std::string& dir, const Json& j) {
  WriteText(dir + "/config.json", j.dump(2));
}

// Every tensor of a safetensors file, as fp32, with its shape.
struct LoadedTensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
std::map<std::string, LoadedTensor> ReadAllTensors(const std::string& path) {
  std::map<std::string, LoadedTensor> out;
  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
  EXPECT_TRUE(f.ok()) << f.status();
  if (!f.ok()) return out;
  for (const auto& [name, info] : f->header().tensors) {
    out[name] = {info.shape, *f->ReadFloat(name)};
  }
  return out;
}

absl::Status WriteTensors(const std::string& path,
                          const std::map<std::string, LoadedTensor>& tensors,
                          SafetensorsDtype dtype = SafetensorsDtype::kF32) {
  std::vector<SafetensorsTensorToWrite> list;
  for (const auto& [name, t] : tensors)
    list.push_back({name, t.shape, t.values});
  return WriteSafetensors(path, list, dtype, {{"format", "pt"}});
}

class HfCheckpointTest : public ::testing::Test {
 protected:
  // Writes MakeWeights(tied, kHalf) into a fresh directory.
  std::string WriteModel(const std::string& name, bool tied,
                         HfDtype dtype = HfDtype::kF32) {
    const std::string dir = testing::MakeTempDir(name);
    HfWriteOptions options;
    options.dtype = dtype;
    absl::Status s =
        WriteHfCheckpoint(MakeWeights(tied, RopeStyle::kHalf), dir, options);
    EXPECT_TRUE(s.ok()) << s;
    return dir;
  }

  // Loads `dir` after `edit` changed its config.json, expecting `code` and a
  // message with every one of `parts`.
  void ExpectConfigError(const std::function<void(Json&)>& edit,
                         absl::StatusCode code,
                         const std::vector<std::string>& parts) {
    const std::string dir = WriteModel("config_error", /*tied=*/false);
    Json j = ReadConfig(dir);
    edit(j);
    WriteConfig(dir, j);
    absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(dir);
    ASSERT_FALSE(w.ok()) << "config " << j.dump();
    EXPECT_EQ(w.status().code(), code) << w.status();
    EXPECT_THAT(w.status().message(), HasSubstr("config.json"));
    for (const std::string& p : parts) {
      EXPECT_THAT(w.status().message(), HasSubstr(p));
    }
  }

  // Loads `dir` after `edit` changed its model.safetensors.
  absl::Status LoadWithTensors(
      const std::function<void(std::map<std::string, LoadedTensor>&)>& edit,
      bool tied = false) {
    const std::string dir = WriteModel("tensor_error", tied);
    const std::string path = dir + "/model.safetensors";
    std::map<std::string, LoadedTensor> tensors = ReadAllTensors(path);
    edit(tensors);
    if (absl::Status s = WriteTensors(path, tensors); !s.ok()) return s;
    return LoadHfCheckpoint(dir).status();
  }
};

TEST_F(HfCheckpointTest, RoundTripUntiedF32) {
  const ModelWeights original = MakeWeights(/*tied=*/false, RopeStyle::kHalf);
  const std::string dir = testing::MakeTempDir("untied");
  ASSERT_TRUE(WriteHfCheckpoint(original, dir).ok());

  const Json config = ReadConfig(dir);
  EXPECT_EQ(config["architectures"], Json::array({"LlamaForCausalLM"}));
  EXPECT_EQ(config["model_type"], "llama");
  EXPECT_EQ(config["hidden_act"], "silu");
  EXPECT_EQ(config["torch_dtype"], "float32");
  EXPECT_EQ(config["hidden_size"], 16);
  EXPECT_EQ(config["intermediate_size"], 24);
  EXPECT_EQ(config["num_hidden_layers"], 2);
  EXPECT_EQ(config["num_attention_heads"], 4);
  EXPECT_EQ(config["num_key_value_heads"], 2);
  EXPECT_EQ(config["head_dim"], 4);
  EXPECT_EQ(config["vocab_size"], 32);
  EXPECT_EQ(config["max_position_embeddings"], 64);
  EXPECT_EQ(config["tie_word_embeddings"], false);
  EXPECT_EQ(config["bos_token_id"], 1);
  EXPECT_EQ(config["eos_token_id"], 2);
  EXPECT_TRUE(config["rope_scaling"].is_null());
  // Written as the shortest decimal, not 9.999999747378752e-06.
  EXPECT_EQ(config["rms_norm_eps"].dump(), "1e-05");
  EXPECT_EQ(config["rope_theta"].dump(), "500000.0");

  absl::StatusOr<SafetensorsFile> st =
      SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->header().metadata.at("format"), "pt");
  EXPECT_EQ(st->header().tensors.size(), 1u + 2 * 9 + 1 + 1);
  ASSERT_NE(st->Find("lm_head.weight"), nullptr);
  EXPECT_THAT(st->Find("model.layers.1.self_attn.k_proj.weight")->shape,
              ::testing::ElementsAre(8, 16));
  EXPECT_THAT(st->Find("model.layers.0.mlp.down_proj.weight")->shape,
              ::testing::ElementsAre(16, 24));

  absl::StatusOr<ModelWeights> loaded = LoadHfCheckpoint(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.rope_style, RopeStyle::kHalf);
  ExpectConfigEq(original.config, loaded->config);
  ExpectAllTensorsEq(original, *loaded);

  // LoadModel dispatches directories here.
  absl::StatusOr<ModelWeights> via_loader = LoadModel(dir);
  ASSERT_TRUE(via_loader.ok()) << via_loader.status();
  EXPECT_EQ(via_loader->layers[1].w2.ToFloat(),
            original.layers[1].w2.ToFloat());
}

TEST_F(HfCheckpointTest, RoundTripTied) {
  const ModelWeights original = MakeWeights(/*tied=*/true, RopeStyle::kHalf);
  const std::string dir = testing::MakeTempDir("tied");
  ASSERT_TRUE(WriteHfCheckpoint(original, dir).ok());
  EXPECT_EQ(ReadConfig(dir)["tie_word_embeddings"], true);
  absl::StatusOr<SafetensorsFile> st =
      SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->Find("lm_head.weight"), nullptr);

  absl::StatusOr<ModelWeights> loaded = LoadHfCheckpoint(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->config.tied_embeddings);
  EXPECT_TRUE(loaded->wcls.empty());
  EXPECT_EQ(&loaded->classifier(), &loaded->token_embedding);
  ExpectAllTensorsEq(original, *loaded);
}

TEST_F(HfCheckpointTest, TiedCheckpointMayStoreTheClassifier) {
  // Some exporters save lm_head.weight even when tied; it is ignored.
  absl::Status s = LoadWithTensors(
      [](std::map<std::string, LoadedTensor>& t) {
        t["lm_head.weight"] = t["model.embed_tokens.weight"];
      },
      /*tied=*/true);
  EXPECT_TRUE(s.ok()) << s;
}

void CheckNarrowLoad(const std::string& dir, HfDtype dtype,
                     const char* torch_dtype, float (*to_float)(uint16_t),
                     uint16_t (*from_float)(float)) {
  const ModelWeights original = MakeWeights(/*tied=*/false, RopeStyle::kHalf);
  HfWriteOptions options;
  options.dtype = dtype;
  ASSERT_TRUE(WriteHfCheckpoint(original, dir, options).ok());
  EXPECT_EQ(ReadConfig(dir)["torch_dtype"], torch_dtype);
  absl::StatusOr<SafetensorsFile> st =
      SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->Find("model.norm.weight")->dtype,
            dtype == HfDtype::kF16 ? SafetensorsDtype::kF16
                                   : SafetensorsDtype::kBF16);

  absl::StatusOr<ModelWeights> loaded = LoadHfCheckpoint(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectConfigEq(original.config, loaded->config);
  // Each value is the nearest value of the narrow type to the original.
  auto rounded = [&](const std::string& name, const std::vector<float>& x,
                     const std::vector<float>& y) {
    ASSERT_EQ(x.size(), y.size()) << name;
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(y[i], to_float(from_float(x[i]))) << name << "[" << i << "]";
    }
  };
  ForEachNonRopeTensor(original, *loaded, rounded);
  for (size_t l = 0; l < original.layers.size(); ++l) {
    rounded("wq", original.layers[l].wq.ToFloat(),
            loaded->layers[l].wq.ToFloat());
    rounded("wk", original.layers[l].wk.ToFloat(),
            loaded->layers[l].wk.ToFloat());
  }
}

TEST_F(HfCheckpointTest, LoadsF16) {
  CheckNarrowLoad(testing::MakeTempDir("f16"), HfDtype::kF16, "float16",
                  &HalfToFloat, &FloatToHalf);
}

TEST_F(HfCheckpointTest, LoadsBF16) {
  CheckNarrowLoad(testing::MakeTempDir("bf16"), HfDtype::kBF16, "bfloat16",
                  &BFloat16ToFloat, &FloatToBFloat16);
}

// Matrices stored in the served dtype are views of the mapped file (no copy,
// no widening); another dtype converts each one; the mapping outlives the
// views once the loader has returned.
TEST_F(HfCheckpointTest, MatricesAreViewsOfTheMappedFileOrConverted) {
  const std::string dir = testing::MakeTempDir("views");
  const ModelWeights original = MakeWeights(/*tied=*/false, RopeStyle::kHalf);
  HfWriteOptions bf16;
  bf16.dtype = HfDtype::kBF16;
  ASSERT_TRUE(WriteHfCheckpoint(original, dir, bf16).ok());

  absl::StatusOr<ModelWeights> as_stored = LoadHfCheckpoint(dir);
  ASSERT_TRUE(as_stored.ok()) << as_stored.status();
  for (const Tensor* t : {&as_stored->token_embedding, &as_stored->wcls,
                          &as_stored->layers[1].wq, &as_stored->layers[1].w2}) {
    EXPECT_TRUE(t->is_view());
    EXPECT_EQ(t->dtype(), WeightDtype::kBF16);
  }
  EXPECT_EQ(as_stored->DtypeSummary(), "bf16");
  const std::vector<float> bf16_values = as_stored->layers[0].wo.ToFloat();

  absl::StatusOr<ModelWeights> wide = LoadHfCheckpoint(dir, WeightDtype::kF32);
  ASSERT_TRUE(wide.ok()) << wide.status();
  EXPECT_FALSE(wide->layers[0].wo.is_view());
  EXPECT_EQ(wide->layers[0].wo.dtype(), WeightDtype::kF32);
  EXPECT_EQ(wide->layers[0].wo.ToFloat(), bf16_values);  // widening is exact
  EXPECT_EQ(
      wide->weight_bytes() - as_stored->weight_bytes(),
      as_stored->weight_bytes() -
          int64_t{sizeof(float)} * (2 * (16 + 16) + 16));  // norms stay fp32

  // q8_0 needs rows of a multiple of 32 weights; these rows (16 and 24) fall
  // back to f16, and the summary says so.
  absl::StatusOr<ModelWeights> q8 = LoadHfCheckpoint(dir, WeightDtype::kQ8_0);
  ASSERT_TRUE(q8.ok()) << q8.status();
  EXPECT_EQ(q8->layers[0].w2.dtype(), WeightDtype::kF16);
  EXPECT_EQ(q8->DtypeSummary(), "f16");
}

TEST_F(HfCheckpointTest, LoadsShardedIndex) {
  const ModelWeights original = MakeWeights(/*tied=*/false, RopeStyle::kHalf);
  const std::string dir = WriteModel("sharded", /*tied=*/false);
  std::map<std::string, LoadedTensor> all =
      ReadAllTensors(dir + "/model.safetensors");
  fs::remove(dir + "/model.safetensors");

  // Layer 0 and the embedding in shard 1 (F32), the rest in shard 2 (BF16
  // would change values; keep F32 for exact comparison).
  std::map<std::string, LoadedTensor> shard1, shard2;
  Json weight_map = Json::object();
  for (auto& [name, t] : all) {
    const bool first = name.rfind("model.layers.0.", 0) == 0 ||
                       name == "model.embed_tokens.weight";
    const char* file = first ? "model-00001-of-00002.safetensors"
                             : "model-00002-of-00002.safetensors";
    (first ? shard1 : shard2)[name] = t;
    weight_map[name] = file;
  }
  ASSERT_TRUE(
      WriteTensors(dir + "/model-00001-of-00002.safetensors", shard1).ok());
  ASSERT_TRUE(
      WriteTensors(dir + "/model-00002-of-00002.safetensors", shard2).ok());
  Json index = {{"metadata", {{"total_size", 12345}}},
                {"weight_map", weight_map}};
  WriteText(dir + "/model.safetensors.index.json", index.dump(2));

  absl::StatusOr<ModelWeights> loaded = LoadHfCheckpoint(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectConfigEq(original.config, loaded->config);
  ExpectAllTensorsEq(original, *loaded);

  // An index entry pointing at a shard that lacks the tensor.
  Json bad = index;
  bad["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors";
  WriteText(dir + "/model.safetensors.index.json", bad.dump());
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(w.status().message(), HasSubstr("'model.norm.weight'"));
  EXPECT_THAT(w.status().message(),
              HasSubstr("model-00001-of-00002.safetensors"));

  // A tensor left out of the index.
  bad = index;
  bad["weight_map"].erase("model.layers.1.mlp.up_proj.weight");
  WriteText(dir + "/model.safetensors.index.json", bad.dump());
  w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(w.status().message(),
              HasSubstr("'model.layers.1.mlp.up_proj.weight'"));
  EXPECT_THAT(w.status().message(), HasSubstr("index.json"));

  // A missing shard file.
  bad = index;
  bad["weight_map"]["model.norm.weight"] = "model-00003-of-00002.safetensors";
  WriteText(dir + "/model.safetensors.index.json", bad.dump());
  w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(w.status().message(),
              HasSubstr("model-00003-of-00002.safetensors"));

  // Shard names must stay in the directory.
  bad = index;
  bad["weight_map"]["model.norm.weight"] = "../model.safetensors";
  WriteText(dir + "/model.safetensors.index.json", bad.dump());
  w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(w.status().message(), HasSubstr("../model.safetensors"));

  // A malformed index.
  WriteText(dir + "/model.safetensors.index.json", R"({"weight_map": [1]})");
  w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(w.status().message(), HasSubstr("weight_map"));
}

TEST_F(HfCheckpointTest, MissingFiles) {
  const std::string empty = testing::MakeTempDir("empty");
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(empty);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(w.status().message(), HasSubstr("config.json"));

  const std::string dir = WriteModel("no_weights", /*tied=*/false);
  fs::remove(dir + "/model.safetensors");
  w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(w.status().message(), HasSubstr("model.safetensors"));
  EXPECT_THAT(w.status().message(), HasSubstr("model.safetensors.index.json"));
}

// --- config.json errors ------------------------------------------------------

TEST_F(HfCheckpointTest, ConfigMissingRequiredField) {
  for (const char* field :
       {"hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "vocab_size", "max_position_embeddings"}) {
    SCOPED_TRACE(field);
    ExpectConfigError([&](Json& j) { j.erase(field); },
                      absl::StatusCode::kInvalidArgument,
                      {std::string("\"") + field + "\"", "missing"});
  }
}

TEST_F(HfCheckpointTest, ConfigWrongTypes) {
  ExpectConfigError([](Json& j) { j["num_hidden_layers"] = "two"; },
                    absl::StatusCode::kInvalidArgument,
                    {"\"num_hidden_layers\"", "string", "expected integer"});
  ExpectConfigError([](Json& j) { j["hidden_size"] = 16.5; },
                    absl::StatusCode::kInvalidArgument,
                    {"\"hidden_size\"", "expected integer"});
  ExpectConfigError([](Json& j) { j["vocab_size"] = -3; },
                    absl::StatusCode::kInvalidArgument,
                    {"\"vocab_size\"", "-3"});
  ExpectConfigError([](Json& j) { j["rms_norm_eps"] = "small"; },
                    absl::StatusCode::kInvalidArgument,
                    {"\"rms_norm_eps\"", "expected number"});
  ExpectConfigError([](Json& j) { j["rope_theta"] = 0; },
                    absl::StatusCode::kInvalidArgument,
                    {"\"rope_theta\"", "positive"});
  ExpectConfigError([](Json& j) { j["tie_word_embeddings"] = 1; },
                    absl::StatusCode::kInvalidArgument,
                    {"\"tie_word_embeddings\"", "expected boolean"});
  ExpectConfigError([](Json& j) { j["eos_token_id"] = "</s>"; },
                    absl::StatusCode::kInvalidArgument, {"\"eos_token_id\""});
  ExpectConfigError([](Json& j) { j["eos_token_id"] = Json::array(); },
                    absl::StatusCode::kInvalidArgument,
                    {"\"eos_token_id\"", "empty"});
  ExpectConfigError([](Json& j) { j["num_key_value_heads"] = 3; },
                    absl::StatusCode::kInvalidArgument,
                    {"num_key_value_heads (3)", "num_attention_heads (4)"});
  ExpectConfigError(
      [](Json& j) {
        j.erase("head_dim");
        j["num_attention_heads"] = 5;
        j["num_key_value_heads"] = 5;
      },
      absl::StatusCode::kInvalidArgument,
      {"hidden_size (16)", "num_attention_heads (5)", "head_dim"});

  // Not JSON, or not an object.
  const std::string dir = WriteModel("bad_json", false);
  WriteText(dir + "/config.json", "{\"hidden_size\": ");
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(w.status().message(), HasSubstr("config.json"));
  EXPECT_THAT(w.status().message(), HasSubstr("not valid JSON"));
  WriteText(dir + "/config.json", "[]");
  w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(w.status().message(), HasSubstr("JSON object"));
}

TEST_F(HfCheckpointTest, ConfigUnsupportedModel) {
  ExpectConfigError([](Json& j) { j["model_type"] = "gpt2"; },
                    absl::StatusCode::kUnimplemented,
                    {"model_type \"gpt2\"", "not supported"});
  ExpectConfigError(
      [](Json& j) {
        j.erase("model_type");
        j["architectures"] = Json::array({"GPTNeoXForCausalLM"});
      },
      absl::StatusCode::kUnimplemented, {"GPTNeoXForCausalLM"});
  ExpectConfigError(
      [](Json& j) {
        j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
      },
      absl::StatusCode::kInvalidArgument, {"rope_scaling", "low_freq_factor"});
  ExpectConfigError(
      [](Json& j) {
        j["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
      },
      absl::StatusCode::kUnimplemented, {"rope_type \"dynamic\""});
  ExpectConfigError([](Json& j) { j["hidden_act"] = "gelu"; },
                    absl::StatusCode::kUnimplemented, {"hidden_act", "gelu"});
}

TEST_F(HfCheckpointTest, ConfigDefaultsAndVariants) {
  const std::string dir = WriteModel("defaults", /*tied=*/false);
  Json j = ReadConfig(dir);
  // Absent optional fields take HF's defaults; null counts as absent.
  j.erase("rms_norm_eps");
  j.erase("rope_theta");
  j.erase("bos_token_id");
  j["head_dim"] = nullptr;  // = hidden_size / num_attention_heads = 4
  j.erase("architectures");
  j["model_type"] = "mistral";
  j["sliding_window"] = 32;  // < max_position_embeddings: a real window
  j["eos_token_id"] = Json::array({7, 8});
  j["pad_token_id"] = nullptr;
  WriteConfig(dir, j);
  absl::StatusOr<ModelWeights> w = LoadHfCheckpoint(dir);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->config.norm_eps, 1e-6f);
  EXPECT_EQ(w->config.rope_theta, 10000.0f);
  EXPECT_EQ(w->config.bos_id, 1);
  EXPECT_EQ(w->config.eos_id, 7);
  EXPECT_EQ(w->config.head_dim, 4);
  EXPECT_EQ(w->config.max_seq_len, 64);  // the context is not capped
  EXPECT_EQ(w->config.sliding_window, 32);
  EXPECT_FALSE(w->config.tied_embeddings);

  // num_key_value_heads defaults to num_attention_heads (4), which does not
  // match the 2-head k_proj: the error names the tensor and both shapes.
  j.erase("num_key_value_heads");
  WriteConfig(dir, j);
  w = LoadHfCheckpoint(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(w.status().message(),
              HasSubstr("'model.layers.0.self_attn.k_proj.weight'"));
  EXPECT_THAT(w.status().message(), HasSubstr("has shape [8, 16]"));
  EXPECT_THAT(w.status().message(), HasSubstr("expected [16, 16]"));
}

// --- tensor errors -----------------------------------------------------------

TEST_F(HfCheckpointTest, MissingTensor) {
  absl::Status s = LoadWithTensors([](std::map<std::string, LoadedTensor>& t) {
    t.erase("model.layers.1.post_attention_layernorm.weight");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(),
              HasSubstr("'model.layers.1.post_attention_layernorm.weight'"));
  EXPECT_THAT(s.message(), HasSubstr("model.safetensors"));
}

TEST_F(HfCheckpointTest, UntiedWithoutClassifier) {
  absl::Status s = LoadWithTensors([](std::map<std::string, LoadedTensor>& t) {
    t.erase("lm_head.weight");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("'lm_head.weight'"));
  EXPECT_THAT(s.message(), HasSubstr("tie_word_embeddings is false"));
}

TEST_F(HfCheckpointTest, WrongShape) {
  absl::Status s = LoadWithTensors([](std::map<std::string, LoadedTensor>& t) {
    LoadedTensor& norm = t["model.norm.weight"];
    norm.shape = {2, 8};
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'model.norm.weight'"));
  EXPECT_THAT(s.message(), HasSubstr("[2, 8]"));
  EXPECT_THAT(s.message(), HasSubstr("expected [16]"));
}

TEST_F(HfCheckpointTest, ExtraTensors) {
  absl::Status s = LoadWithTensors([](std::map<std::string, LoadedTensor>& t) {
    t["model.layers.0.self_attn.q_proj.bias"] = {{16}, std::vector<float>(16)};
  });
  // A bias config.json does not declare (attention_bias false).
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'model.layers.0.self_attn.q_proj.bias'"));
  EXPECT_THAT(s.message(), HasSubstr("attention_bias"));

  s = LoadWithTensors([](std::map<std::string, LoadedTensor>& t) {
    t["model.layers.2.input_layernorm.weight"] = {{16}, std::vector<float>(16)};
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("'model.layers.2.input_layernorm.weight'"));
  EXPECT_THAT(s.message(), HasSubstr("unexpected"));

  // Cached RoPE frequencies are harmless and ignored.
  s = LoadWithTensors([](std::map<std::string, LoadedTensor>& t) {
    t["model.layers.0.self_attn.rotary_emb.inv_freq"] = {{2}, {1.0f, 0.01f}};
  });
  EXPECT_TRUE(s.ok()) << s;
}

// --- writing -----------------------------------------------------------------

TEST_F(HfCheckpointTest, WritePermutesInterleavedRope) {
  const ModelWeights original =
      MakeWeights(/*tied=*/false, RopeStyle::kInterleaved);
  const std::string dir = testing::MakeTempDir("interleaved");
  ASSERT_TRUE(WriteHfCheckpoint(original, dir).ok());
  absl::StatusOr<ModelWeights> loaded = LoadHfCheckpoint(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.rope_style, RopeStyle::kHalf);
  ExpectConfigEq(original.config, loaded->config);
  auto eq = [](const std::string& name, const std::vector<float>& x,
               const std::vector<float>& y) { EXPECT_EQ(x, y) << name; };
  ForEachNonRopeTensor(original, *loaded, eq);
  const ModelConfig& c = original.config;
  for (int l = 0; l < c.n_layers; ++l) {
    ExpectRowsPermuted(original.layers[l].wq.ToFloat(),
                       loaded->layers[l].wq.ToFloat(), c.n_heads, c.head_dim,
                       c.dim, "wq");
    ExpectRowsPermuted(original.layers[l].wk.ToFloat(),
                       loaded->layers[l].wk.ToFloat(), c.n_kv_heads, c.head_dim,
                       c.dim, "wk");
    EXPECT_NE(original.layers[l].wq.ToFloat(), loaded->layers[l].wq.ToFloat());
  }
}

TEST_F(HfCheckpointTest, WriteUniformCacheKvHeads) {
  // A head-compressed model: n_kv_heads 4 originally, every layer caches 2
  // heads whose W_K / W_V are folded in.
  ModelWeights w = MakeWeights(/*tied=*/true, RopeStyle::kHalf);
  w.config.n_kv_heads = 4;
  w.config.cache_kv_heads = {2, 2};
  ASSERT_TRUE(w.Validate().ok()) << w.Validate();
  const std::string dir = testing::MakeTempDir("uniform_g");
  ASSERT_TRUE(WriteHfCheckpoint(w, dir).ok());
  EXPECT_EQ(ReadConfig(dir)["num_key_value_heads"], 2);
  absl::StatusOr<ModelWeights> loaded = LoadHfCheckpoint(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.n_kv_heads, 2);
  EXPECT_TRUE(loaded->config.cache_kv_heads.empty());
  EXPECT_EQ(loaded->layers[1].wk.ToFloat(), w.layers[1].wk.ToFloat());
}

TEST_F(HfCheckpointTest, WriteRejectsWhatHfCannotExpress) {
  const std::string dir = testing::MakeTempDir("reject");
  // Non-uniform KV heads: layer 1 keeps 1 head.
  ModelWeights w = MakeWeights(/*tied=*/true, RopeStyle::kHalf);
  w.config.cache_kv_heads = {2, 1};
  const int64_t row = int64_t{w.config.head_dim} * w.config.dim;
  for (Tensor* t : {&w.layers[1].wk, &w.layers[1].wv}) {
    *t = Tensor::FromF32(std::vector<float>(t->f32(), t->f32() + row),
                         w.config.head_dim, w.config.dim);
  }
  ASSERT_TRUE(w.Validate().ok()) << w.Validate();
  absl::Status s = WriteHfCheckpoint(w, dir);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("layer 1 has 1"));

  // Post-RoPE projections.
  w = MakeWeights(/*tied=*/true, RopeStyle::kHalf);
  const ModelConfig& c = w.config;
  w.layers[0].key_cache_proj.assign(
      int64_t{c.n_kv_heads} * c.head_dim * c.head_dim, 0.0f);
  w.layers[0].query_proj.assign(int64_t{c.n_heads} * c.head_dim * c.head_dim,
                                0.0f);
  ASSERT_TRUE(w.Validate().ok()) << w.Validate();
  s = WriteHfCheckpoint(w, dir);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("post-RoPE"));
  EXPECT_THAT(s.message(), HasSubstr("layer 0"));

  // Invalid weights.
  w = MakeWeights(/*tied=*/true, RopeStyle::kHalf);
  w.layers[0].w2 =
      Tensor::FromF32(std::vector<float>(w.layers[0].w2.numel() - 1),
                      w.layers[0].w2.rows(), w.layers[0].w2.cols());
  EXPECT_FALSE(WriteHfCheckpoint(w, dir).ok());

  // A weight F16 cannot hold.
  w = MakeWeights(/*tied=*/true, RopeStyle::kHalf);
  w.layers[1].w3.MutableF32()[5] = 1e6f;
  HfWriteOptions f16;
  f16.dtype = HfDtype::kF16;
  s = WriteHfCheckpoint(w, dir, f16);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("model.layers.1.mlp.up_proj.weight"));
  EXPECT_THAT(s.message(), HasSubstr("overflows F16"));
}

// A NaN or infinity in the weights is refused on load, naming the file, the
// tensor and the index of the first bad value (it used to surface much later
// as "dsyevd failed with info -5" in calibration).
TEST(NonFiniteWeightsTest, HuggingFaceCheckpointNamesTheTensor) {
  ModelWeights nan_model = MakeWeights(/*tied=*/false, RopeStyle::kHalf);
  nan_model.layers[1].wv.MutableF32()[37] =
      std::numeric_limits<float>::quiet_NaN();
  const std::string nan_dir = testing::MakeTempDir("nan");
  ASSERT_TRUE(WriteHfCheckpoint(nan_model, nan_dir).ok());
  auto loaded = LoadModel(nan_dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(loaded.status())) << loaded.status();
  const std::string nan_message(loaded.status().message());
  EXPECT_THAT(nan_message, HasSubstr(nan_dir));
  EXPECT_THAT(nan_message,
              HasSubstr("tensor model.layers.1.self_attn.v_proj.weight has "
                        "nan at index 37"));

  ModelWeights inf_model = MakeWeights(/*tied=*/false, RopeStyle::kHalf);
  inf_model.layers[0].w2.MutableF32()[5] =
      std::numeric_limits<float>::infinity();
  const std::string inf_dir = testing::MakeTempDir("inf");
  ASSERT_TRUE(WriteHfCheckpoint(inf_model, inf_dir).ok());
  loaded = LoadModel(inf_dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("tensor model.layers.0.mlp.down_proj.weight has inf "
                        "at index 5"));
}

TEST(NonFiniteWeightsTest, Llama2cCheckpointNamesTheTensor) {
  const std::string dir = testing::MakeTempDir("llama2c");
  ModelWeights nan_model = MakeWeights(/*tied=*/true, RopeStyle::kInterleaved);
  nan_model.layers[1].wq.MutableF32()[3] =
      std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(WriteLlama2cCheckpoint(nan_model, dir + "/nan.bin").ok());
  auto loaded = LoadModel(dir + "/nan.bin");
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(loaded.status())) << loaded.status();
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("nan.bin"));
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("tensor layers.1.wq has nan at index 3"));

  ModelWeights inf_model = MakeWeights(/*tied=*/true, RopeStyle::kInterleaved);
  inf_model.token_embedding.MutableF32()[100] =
      std::numeric_limits<float>::infinity();
  ASSERT_TRUE(WriteLlama2cCheckpoint(inf_model, dir + "/inf.bin").ok());
  loaded = LoadModel(dir + "/inf.bin");
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("tensor token_embedding has inf at index 100"));
  // The last value of the last tensor is found too (the scan covers blocks
  // and their tails).
  ModelWeights tail = MakeWeights(/*tied=*/true, RopeStyle::kInterleaved);
  tail.rms_final.back() = -std::numeric_limits<float>::infinity();
  ASSERT_TRUE(WriteLlama2cCheckpoint(tail, dir + "/tail.bin").ok());
  loaded = LoadModel(dir + "/tail.bin");
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr("tensor rms_final has -inf at index 15"));
}

TEST(NonFiniteWeightsTest, FirstNonFiniteFindsTheFirstAcrossBlocks) {
  std::vector<float> v(10000, 1.0f);
  EXPECT_EQ(FirstNonFinite(v), -1);
  v[9999] = std::numeric_limits<float>::infinity();
  v[5000] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(FirstNonFinite(v), 5000);
  v[4095] = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(FirstNonFinite(v), 4095);
  // The largest finite value and denormals are finite.
  std::vector<float> edge = {std::numeric_limits<float>::max(),
                             -std::numeric_limits<float>::max(),
                             std::numeric_limits<float>::denorm_min(), 0.0f};
  EXPECT_EQ(FirstNonFinite(edge), -1);
}

TEST(HfDtypeTest, ParsesNames) {
  EXPECT_EQ(*ParseHfDtype("f32"), HfDtype::kF32);
  EXPECT_EQ(*ParseHfDtype("float16"), HfDtype::kF16);
  EXPECT_EQ(*ParseHfDtype("bf16"), HfDtype::kBF16);
  EXPECT_STREQ(HfDtypeName(HfDtype::kBF16), "bf16");
  absl::StatusOr<HfDtype> bad = ParseHfDtype("fp8");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("fp8"));
}

// --- the shared stories260K model --------------------------------------------

TEST(HfCheckpointStoriesTest, Llama2cToHfRoundTrip) {
  HEADROOM_REQUIRE_SHARED(path, "models/stories260K/stories260K.bin");
  absl::StatusOr<ModelWeights> original = LoadLlama2cCheckpoint(path);
  ASSERT_TRUE(original.ok()) << original.status();
  ASSERT_EQ(original->config.rope_style, RopeStyle::kInterleaved);

  const std::string dir = testing::MakeTempDir("stories260K_hf");
  ASSERT_TRUE(WriteHfCheckpoint(*original, dir).ok());
  absl::StatusOr<ModelWeights> hf = LoadHfCheckpoint(dir);
  ASSERT_TRUE(hf.ok()) << hf.status();

  const ModelConfig& c = hf->config;
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_seq_len, 512);
  EXPECT_EQ(c.rope_style, RopeStyle::kHalf);
  ExpectConfigEq(original->config, c);

  auto eq = [](const std::string& name, const std::vector<float>& x,
               const std::vector<float>& y) { EXPECT_EQ(x, y) << name; };
  ForEachNonRopeTensor(*original, *hf, eq);
  for (int l = 0; l < c.n_layers; ++l) {
    ExpectRowsPermuted(original->layers[l].wq.ToFloat(),
                       hf->layers[l].wq.ToFloat(), c.n_heads, c.head_dim, c.dim,
                       "wq layer " + std::to_string(l));
    ExpectRowsPermuted(original->layers[l].wk.ToFloat(),
                       hf->layers[l].wk.ToFloat(), c.n_kv_heads, c.head_dim,
                       c.dim, "wk layer " + std::to_string(l));
  }
}

}  // namespace
}  // namespace headroom::runtime
