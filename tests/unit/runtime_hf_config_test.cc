// config.json of each architecture the runtime computes: the features each
// one turns on, what is refused (naming the field and value), the round
// trip through HfConfigJson, and RoPE's scaled frequencies.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "runtime/model/rope.h"
#include "runtime/weights/hf_config.h"

namespace headroom::runtime {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

Json Base(const char* model_type, const char* architecture) {
  return {{"model_type", model_type},
          {"architectures", {architecture}},
          {"hidden_size", 64},
          {"intermediate_size", 96},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"vocab_size", 50},
          {"max_position_embeddings", 128},
          {"rms_norm_eps", 1e-6},
          {"hidden_act", "silu"}};
}

absl::StatusOr<ModelConfig> Parse(const Json& j) {
  return ParseHfConfig(j, "model/config.json");
}

void ExpectRefused(const Json& j, const std::string& substring) {
  auto c = Parse(j);
  ASSERT_FALSE(c.ok()) << j.dump();
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(substring));
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("model/config.json"));
}

TEST(HfConfigTest, EachArchitectureTurnsOnItsFeatures) {
  auto llama = Parse(Base("llama", "LlamaForCausalLM"));
  ASSERT_TRUE(llama.ok()) << llama.status();
  EXPECT_FALSE(llama->qkv_bias || llama->output_bias || llama->mlp_bias ||
               llama->qk_norm);
  EXPECT_EQ(llama->sliding_window, 0);

  Json biased = Base("llama", "LlamaForCausalLM");
  biased["attention_bias"] = true;
  biased["mlp_bias"] = true;
  auto lb = Parse(biased);
  ASSERT_TRUE(lb.ok()) << lb.status();
  EXPECT_TRUE(lb->qkv_bias && lb->output_bias && lb->mlp_bias);

  Json mistral = Base("mistral", "MistralForCausalLM");
  mistral["sliding_window"] = 32;
  auto m = Parse(mistral);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->sliding_window, 32);
  EXPECT_EQ(m->max_seq_len, 128);    // the context is not capped any more
  mistral["sliding_window"] = 4096;  // longer than the context: no window
  EXPECT_EQ(Parse(mistral)->sliding_window, 0);

  auto qwen2 = Parse(Base("qwen2", "Qwen2ForCausalLM"));
  ASSERT_TRUE(qwen2.ok()) << qwen2.status();
  EXPECT_TRUE(qwen2->qkv_bias);
  EXPECT_FALSE(qwen2->output_bias || qwen2->qk_norm);

  Json qwen3 = Base("qwen3", "Qwen3ForCausalLM");
  qwen3["head_dim"] = 32;  // Qwen3's heads need not be hidden / heads
  auto q3 = Parse(qwen3);
  ASSERT_TRUE(q3.ok()) << q3.status();
  EXPECT_TRUE(q3->qk_norm);
  EXPECT_FALSE(q3->qkv_bias);
  EXPECT_EQ(q3->head_dim, 32);
}

TEST(HfConfigTest, RopeScalingTypes) {
  Json j = Base("llama", "LlamaForCausalLM");
  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  auto c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_FLOAT_EQ(c->rope_scaling.factor, 8.0f);
  EXPECT_EQ(c->rope_scaling.original_max_position, 8192);

  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};  // older key
  c = Parse(j);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kLinear);

  j["rope_scaling"] = {{"rope_type", "default"}};
  EXPECT_EQ(Parse(j)->rope_scaling.type, RopeScaling::Type::kNone);
}

TEST(HfConfigTest, WhatIsNotComputedIsRefusedByName) {
  ExpectRefused(Base("gemma", "GemmaForCausalLM"), "model_type \"gemma\"");
  Json j = Base("llama", "LlamaForCausalLM");
  j.erase("model_type");
  j["architectures"] = {"PhiForCausalLM"};
  ExpectRefused(j, "PhiForCausalLM");

  j = Base("llama", "LlamaForCausalLM");
  j["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
  ExpectRefused(j, "rope_type \"dynamic\" is not supported");
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 2.0}};
  ExpectRefused(j, "rope_type \"yarn\"");
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  ExpectRefused(j, "low_freq_factor");
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 0.5}};
  ExpectRefused(j, "rope_scaling.factor");
  j["rope_scaling"] = "linear";
  ExpectRefused(j, "rope_scaling");

  j = Base("qwen2", "Qwen2ForCausalLM");
  j["use_sliding_window"] = true;
  ExpectRefused(j, "use_sliding_window");
  j = Base("mistral", "MistralForCausalLM");
  j["attention_bias"] = true;
  ExpectRefused(j, "attention_bias is true, which MistralForCausalLM");
  j = Base("llama", "LlamaForCausalLM");
  j["hidden_act"] = "gelu";
  ExpectRefused(j, "hidden_act");
}

TEST(HfConfigTest, WrittenConfigsReadBackWithTheirFeatures) {
  ModelConfig c;
  c.dim = 64;
  c.hidden_dim = 96;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 16;
  c.vocab_size = 50;
  c.max_seq_len = 128;
  c.rope_style = RopeStyle::kHalf;
  struct Case {
    const char* architecture;
    void (*set)(ModelConfig*);
  };
  const Case cases[] = {
      {"LlamaForCausalLM",
       [](ModelConfig* c) {
         c->qkv_bias = c->output_bias = c->mlp_bias = true;
         c->rope_scaling = {RopeScaling::Type::kLlama3, 8, 1, 4, 64};
       }},
      {"MistralForCausalLM", [](ModelConfig* c) { c->sliding_window = 16; }},
      {"Qwen2ForCausalLM", [](ModelConfig* c) { c->qkv_bias = true; }},
      {"Qwen3ForCausalLM", [](ModelConfig* c) { c->qk_norm = true; }},
  };
  for (const Case& k : cases) {
    ModelConfig want = c;
    k.set(&want);
    EXPECT_STREQ(HfArchitectureName(want), k.architecture);
    auto got = Parse(HfConfigJson(want, want.n_kv_heads, "bfloat16"));
    ASSERT_TRUE(got.ok()) << k.architecture << ": " << got.status();
    EXPECT_EQ(got->qkv_bias, want.qkv_bias) << k.architecture;
    EXPECT_EQ(got->output_bias, want.output_bias) << k.architecture;
    EXPECT_EQ(got->mlp_bias, want.mlp_bias) << k.architecture;
    EXPECT_EQ(got->qk_norm, want.qk_norm) << k.architecture;
    EXPECT_EQ(got->sliding_window, want.sliding_window) << k.architecture;
    EXPECT_EQ(got->rope_scaling.type, want.rope_scaling.type);
    EXPECT_EQ(got->rope_scaling.original_max_position,
              want.rope_scaling.original_max_position);
  }
}

// LLaMA 3.1's published scaling (factor 8, low 1, high 4, original context
// 8192) on its head size 128 and theta 500000: wavelengths 2 pi / f under
// 8192 / 4 = 2048 are kept, those over 8192 divided by 8, the band between
// interpolated, so the frequencies still fall with the pair index.
TEST(RopeFrequenciesTest, Llama3ScalingKeepsHighDividesLowAndBlendsBetween) {
  ModelConfig c;
  c.head_dim = 128;
  c.rope_theta = 500000.0f;
  const std::vector<float> plain = RopeInverseFrequencies(c);
  c.rope_scaling = {RopeScaling::Type::kLlama3, 8.0f, 1.0f, 4.0f, 8192};
  const std::vector<float> scaled = RopeInverseFrequencies(c);
  ASSERT_EQ(scaled.size(), 64u);
  int kept = 0, divided = 0, blended = 0;
  for (int p = 0; p < 64; ++p) {
    const double wavelength = 2 * std::numbers::pi / plain[p];
    if (wavelength < 2048) {
      EXPECT_EQ(scaled[p], plain[p]) << p;
      ++kept;
    } else if (wavelength > 8192) {
      EXPECT_EQ(scaled[p], plain[p] / 8.0f) << p;
      ++divided;
    } else {
      EXPECT_LT(scaled[p], plain[p]) << p;
      EXPECT_GT(scaled[p], plain[p] / 8.0f) << p;
      ++blended;
    }
    if (p > 0) EXPECT_LT(scaled[p], scaled[p - 1]) << p;
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(blended, 0);
  // Unscaled: theta^(-2p/d) in float, p = 0 exactly 1.
  EXPECT_EQ(plain[0], 1.0f);
  EXPECT_NEAR(plain[32], std::pow(500000.0, -0.5), 1e-9);

  c.rope_scaling = {RopeScaling::Type::kLinear, 4.0f};
  const std::vector<float> linear = RopeInverseFrequencies(c);
  for (int p = 0; p < 64; ++p) EXPECT_EQ(linear[p], plain[p] / 4.0f);
}

}  // namespace
}  // namespace headroom::runtime
