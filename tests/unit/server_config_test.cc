// The YAML config parser: every key, errors naming key and line, flags
// overriding the file, keys from the environment kept only as digests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "server/config.h"
#include "server/tenants.h"
#include "tests/test_support.h"

namespace headroom::server {
namespace {

using ::testing::HasSubstr;

constexpr char kFull[] = R"(
model:
  path: models/m.bin
  format: llama2c
compression:
  method: svd-a
  kv_heads: 2
  calibration:
    text: data/t.txt
    lines: "1:200"
    tokens: 5000
  cache_dir: /tmp/cache
engine:
  max_num_batched_tokens: 128
  max_num_seqs: 8
  block_size: 32
  kv_cache_memory_bytes: 1048576
  threads: 2
listen: 127.0.0.1:7000
metrics_listen: 127.0.0.1:7001
drain_deadline_seconds: 5.5
allow_anonymous: true
tenants:
  - name: alice
    api_key_sha256: BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD
    weight: 2
    priority: 1
    max_concurrent_requests: 4
    max_queued_requests: 3
    tokens_per_minute: 1000
    kv_page_share: 0.25
)";

TEST(ServerConfigTest, ParsesEveryKey) {
  auto c = ParseServerConfig(kFull, "full.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model.path, "models/m.bin");
  EXPECT_EQ(c->model.format, "llama2c");
  EXPECT_EQ(c->compression.method, "svd-a");
  EXPECT_EQ(c->compression.settings.kv_heads, 2);
  EXPECT_EQ(c->compression.calibration_text, "data/t.txt");
  EXPECT_EQ(c->compression.calibration_first_line, 1);
  EXPECT_EQ(c->compression.calibration_last_line, 200);
  EXPECT_EQ(c->compression.settings.calibration_tokens, 5000);
  EXPECT_EQ(c->compression.cache_dir, "/tmp/cache");
  EXPECT_EQ(c->engine.max_num_batched_tokens, 128);
  EXPECT_EQ(c->engine.max_num_seqs, 8);
  EXPECT_EQ(c->engine.block_size, 32);
  EXPECT_EQ(c->engine.kv_cache_memory_bytes, 1048576);
  EXPECT_EQ(c->engine.threads, 2);
  EXPECT_EQ(c->listen, "127.0.0.1:7000");
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:7001");
  EXPECT_DOUBLE_EQ(c->drain_deadline_seconds, 5.5);
  EXPECT_TRUE(c->allow_anonymous);
  ASSERT_EQ(c->tenants.size(), 1u);
  const TenantConfig& t = c->tenants[0];
  EXPECT_EQ(t.name, "alice");
  // Normalised to lowercase: sha256("abc").
  EXPECT_EQ(t.api_key_sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_DOUBLE_EQ(t.weight, 2);
  EXPECT_EQ(t.priority, 1);
  EXPECT_EQ(t.max_concurrent_requests, 4);
  EXPECT_EQ(t.max_queued_requests, 3);
  EXPECT_EQ(t.tokens_per_minute, 1000);
  EXPECT_DOUBLE_EQ(t.kv_page_share, 0.25);
  EXPECT_TRUE(ValidateServerConfig(*c).ok());
}

TEST(ServerConfigTest, DefaultsAreLoopbackAndNoCompression) {
  auto c = ParseServerConfig("", "empty.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen.rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(c->compression.method, "none");
  EXPECT_FALSE(c->allow_anonymous);
  // No model yet: validation names the key.
  EXPECT_THAT(std::string(ValidateServerConfig(*c).message()),
              HasSubstr("model.path"));
}

TEST(ServerConfigTest, UnknownKeyNamesKeyAndLine) {
  auto c = ParseServerConfig("model:\n  path: x\n  colour: red\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("c.yaml:3: model.colour: unknown key"));
  auto top = ParseServerConfig("listen: a\nlisten_port: 3\n", "c.yaml");
  EXPECT_THAT(std::string(top.status().message()),
              HasSubstr("c.yaml:2: listen_port: unknown key"));
  auto tenant = ParseServerConfig(
      "tenants:\n  - name: a\n    api_key_sha256: " + std::string(64, 'a') +
          "\n    wieght: 2\n",
      "c.yaml");
  EXPECT_THAT(std::string(tenant.status().message()),
              HasSubstr("c.yaml:4: tenants[0].wieght: unknown key"));
}

TEST(ServerConfigTest, WrongTypeNamesKeyAndLine) {
  auto c = ParseServerConfig("engine:\n  max_num_seqs: many\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("c.yaml:2: engine.max_num_seqs: expected an integer, "
                        "got \"many\""));
  auto b = ParseServerConfig("allow_anonymous: maybe\n", "c.yaml");
  EXPECT_THAT(std::string(b.status().message()),
              HasSubstr("c.yaml:1: allow_anonymous: expected true or false"));
  auto m = ParseServerConfig("engine: 3\n", "c.yaml");
  EXPECT_THAT(std::string(m.status().message()),
              HasSubstr("c.yaml:1: engine: expected a mapping"));
  auto r = ParseServerConfig("engine:\n  block_size: 0\n", "c.yaml");
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("c.yaml:2: engine.block_size: must be in"));
  auto lines = ParseServerConfig(
      "compression:\n  calibration:\n    lines: \"5:1\"\n", "c.yaml");
  EXPECT_THAT(std::string(lines.status().message()),
              HasSubstr("c.yaml:3: compression.calibration.lines"));
}

TEST(ServerConfigTest, AdmissionReserve) {
  auto c = ParseServerConfig("engine:\n  admission_reserve: false\n", "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->engine.admission_reserve);
  EXPECT_TRUE(ParseServerConfig("", "c.yaml")->engine.admission_reserve);
  auto bad = ParseServerConfig("engine:\n  admission_reserve: 2\n", "c.yaml");
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("c.yaml:2: engine.admission_reserve: expected true or "
                        "false"));
}

TEST(ServerConfigTest, PrefixCachingAndCacheGroups) {
  EXPECT_TRUE(ParseServerConfig("", "c.yaml")->engine.enable_prefix_caching);
  auto off =
      ParseServerConfig("engine:\n  enable_prefix_caching: false\n", "c.yaml");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(off->engine.enable_prefix_caching);
  auto bad = ParseServerConfig("engine:\n  enable_prefix_caching: yes-ish\n",
                               "c.yaml");
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("c.yaml:2: engine.enable_prefix_caching: expected true "
                        "or false"));
  auto groups = ParseServerConfig(
      "allow_anonymous: true\ntenants:\n  - name: a\n    cache_group: g\n"
      "    api_key_sha256: " +
          std::string(64, 'a') + "\n",
      "c.yaml");
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_EQ(groups->tenants[0].cache_group, "g");
  auto wrong = ParseServerConfig(
      "tenants:\n  - name: a\n    cache_group: [1]\n", "c.yaml");
  EXPECT_THAT(std::string(wrong.status().message()),
              HasSubstr("tenants[0].cache_group"));

  ServerConfig c = *ParseServerConfig("model:\n  path: m.bin\n", "c.yaml");
  const char* argv[] = {"headroom-server", "--prefix-caching", "off"};
  auto flags = ParseServerFlags(3, argv);
  ASSERT_TRUE(flags.ok()) << flags.status();
  ASSERT_TRUE(ApplyServerFlags(*flags, &c).ok());
  EXPECT_FALSE(c.engine.enable_prefix_caching);
  const char* bad_argv[] = {"headroom-server", "--prefix-caching", "maybe"};
  auto bad_flags = ParseServerFlags(3, bad_argv);
  ASSERT_TRUE(bad_flags.ok());
  EXPECT_THAT(std::string(ApplyServerFlags(*bad_flags, &c).message()),
              HasSubstr("--prefix-caching: expected on or off"));
}

TEST(ServerConfigTest, DeviceAndDtype) {
  auto c = ParseServerConfig(
      "model:\n  path: m.bin\ndevice: cuda\ndtype: bfloat16\ndevice_id: 1\n",
      "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->device, "cuda");
  EXPECT_EQ(c->dtype, "bfloat16");
  EXPECT_EQ(c->device_id, 1);
  auto defaults = ParseServerConfig("", "c.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->device, "cpu");
  EXPECT_EQ(defaults->dtype, "float16");

  auto device = ParseServerConfig("device: tpu\n", "c.yaml");
  EXPECT_THAT(std::string(device.status().message()),
              HasSubstr("c.yaml:1: device: expected cpu or cuda"));
  auto dtype = ParseServerConfig("dtype: fp8\n", "c.yaml");
  EXPECT_THAT(std::string(dtype.status().message()),
              HasSubstr("c.yaml:1: dtype: expected float16 or bfloat16"));
  auto id = ParseServerConfig("device_id: -1\n", "c.yaml");
  EXPECT_THAT(std::string(id.status().message()),
              HasSubstr("c.yaml:1: device_id: must be >= 0"));

  // The flags are checked by the same rules.
  const char* argv[] = {"headroom-server", "--model", "m.bin", "--device",
                        "gpu"};
  auto flags = ParseServerFlags(5, argv);
  ASSERT_TRUE(flags.ok()) << flags.status();
  ServerConfig from_flags;
  EXPECT_THAT(std::string(ApplyServerFlags(*flags, &from_flags).message()),
              HasSubstr("device: expected cpu or cuda, got \"gpu\""));
}

TEST(ServerConfigTest, WeightsDtype) {
  auto c =
      ParseServerConfig("model:\n  path: m\n  weights_dtype: q8_0\n", "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model.weights_dtype, "q8_0");
  auto defaults = ParseServerConfig("", "c.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->model.weights_dtype, "auto");
  auto bad = ParseServerConfig("model:\n  weights_dtype: int4\n", "c.yaml");
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("c.yaml:2: model.weights_dtype: expected auto, f32, "
                        "f16, bf16 or q8_0"));
  const char* argv[] = {"headroom-server", "--model", "m.bin",
                        "--weights-dtype", "fp8"};
  auto flags = ParseServerFlags(5, argv);
  ASSERT_TRUE(flags.ok()) << flags.status();
  ServerConfig from_flags;
  EXPECT_THAT(std::string(ApplyServerFlags(*flags, &from_flags).message()),
              HasSubstr("model.weights_dtype: expected auto, f32, f16, bf16 "
                        "or q8_0, got \"fp8\""));
}

TEST(ServerConfigTest, MalformedYamlNamesLine) {
  auto c = ParseServerConfig("model:\n  path: [unclosed\n", "bad.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("bad.yaml:"));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("malformed YAML"));
}

TEST(ServerConfigTest, KeyFromEnvironmentIsKeptAsDigestOnly) {
  ::setenv("HEADROOM_TEST_KEY", "abc\n", 1);
  auto c = ParseServerConfig(
      "tenants:\n  - name: bob\n    api_key_env: HEADROOM_TEST_KEY\n", "c");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tenants[0].api_key_sha256, ApiKeyDigest("abc"));
  auto missing = ParseServerConfig(
      "tenants:\n  - name: bob\n    api_key_env: HEADROOM_NO_SUCH_VAR\n", "c");
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("tenants[0].api_key_env"));
  auto both = ParseServerConfig(
      "tenants:\n  - name: bob\n    api_key_env: A\n    api_key_file: B\n",
      "c");
  EXPECT_FALSE(both.ok());
}

TEST(ServerConfigTest, FlagsOverrideTheFile) {
  auto c = ParseServerConfig(kFull, "full.yaml");
  ASSERT_TRUE(c.ok());
  const char* argv[] = {"headroom-server",
                        "--config",
                        "x.yaml",
                        "--listen",
                        "0.0.0.0:9",
                        "--max-num-seqs=3",
                        "--kv-heads",
                        "1",
                        "--allow-anonymous",
                        "--calibration-lines",
                        "2:4"};
  auto flags = ParseServerFlags(11, argv);
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->config_path, "x.yaml");
  ASSERT_TRUE(ApplyServerFlags(*flags, &*c).ok());
  EXPECT_EQ(c->listen, "0.0.0.0:9");
  EXPECT_EQ(c->engine.max_num_seqs, 3);
  EXPECT_EQ(c->compression.settings.kv_heads, 1);
  EXPECT_EQ(c->compression.calibration_first_line, 2);
  EXPECT_EQ(c->compression.calibration_last_line, 4);

  const char* bad[] = {"headroom-server", "--no-such-flag", "1"};
  auto f = ParseServerFlags(3, bad);
  EXPECT_THAT(std::string(f.status().message()), HasSubstr("--no-such-flag"));
  const char* num[] = {"headroom-server", "--max-num-seqs", "lots"};
  auto g = ParseServerFlags(3, num);
  ASSERT_TRUE(g.ok());
  EXPECT_THAT(std::string(ApplyServerFlags(*g, &*c).message()),
              HasSubstr("--max-num-seqs"));
}

TEST(ServerConfigTest, CrossFieldRules) {
  auto c = ParseServerConfig(
      "model:\n  path: m\ncompression:\n  method: svd-a\n", "c");
  ASSERT_TRUE(c.ok());
  EXPECT_THAT(std::string(ValidateServerConfig(*c).message()),
              HasSubstr("compression.kv_heads"));
  auto dup = ParseServerConfig(
      "model:\n  path: m\ntenants:\n  - name: a\n    api_key_sha256: " +
          std::string(64, 'a') +
          "\n  - name: a\n    api_key_sha256: " + std::string(64, 'b') + "\n",
      "c");
  ASSERT_TRUE(dup.ok());
  EXPECT_THAT(std::string(ValidateServerConfig(*dup).message()),
              HasSubstr("tenants[1].name"));
}

}  // namespace
}  // namespace headroom::server

namespace headroom::server {
namespace {

TEST(ServerConfigHttpApiTest, KeysFlagsAndTheChatTemplateFile) {
  auto c = ParseServerConfig(
      "http:\n  listen: 127.0.0.1:8000\n  chat_template: t.jinja\n"
      "  model_name: tiny\n  max_body_bytes: 2048\n  max_connections: 10\n",
      "x.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->http.listen, "127.0.0.1:8000");
  EXPECT_EQ(c->http.chat_template, "t.jinja");
  EXPECT_EQ(c->http.model_name, "tiny");
  EXPECT_EQ(c->http.max_body_bytes, 2048);
  EXPECT_EQ(c->http.max_connections, 10);
  // Off unless configured.
  auto d = ParseServerConfig("", "x.yaml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->http.listen, "");
  EXPECT_FALSE(ParseServerConfig("http:\n  bogus: 1\n", "x.yaml").ok());
  EXPECT_FALSE(
      ParseServerConfig("http:\n  max_body_bytes: 10\n", "x.yaml").ok());

  const std::string dir = ::headroom::testing::MakeTempDir("chat-template");
  std::ofstream(dir + "/t.jinja") << "{{ messages }}";
  const char* argv[] = {"headroom-server", "--http-listen", "127.0.0.1:0",
                        "--chat-template", nullptr};
  const std::string path = dir + "/t.jinja";
  argv[4] = path.c_str();
  auto flags = ParseServerFlags(5, argv);
  ASSERT_TRUE(flags.ok()) << flags.status();
  ServerConfig config;
  config.model.path = "models/x";
  const absl::Status applied = ApplyServerFlags(*flags, &config);
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_EQ(config.http.listen, "127.0.0.1:0");
  ASSERT_TRUE(LoadChatTemplate(&config).ok());
  EXPECT_EQ(config.http.chat_template_text, "{{ messages }}");
  config.http.chat_template = dir + "/missing.jinja";
  const absl::Status s = LoadChatTemplate(&config);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("http.chat_template"), std::string::npos);
  config.http.listen = "nonsense";
  EXPECT_FALSE(ValidateServerConfig(config).ok());
}

}  // namespace
}  // namespace headroom::server

namespace headroom::server {
namespace {

// The settings headroom-compress takes as flags, as keys of compression:.
TEST(ServerConfigCompressionTest, ParsesTheCompressionSettings) {
  auto c = ParseServerConfig(
      "model:\n  path: m\ncompression:\n  method: auto\n  kv_budget: 0.5\n"
      "  regroup: true\n  holdback_tokens: 4096\n  refit_tokens: 1000\n"
      "  refit_ridge: 0.01\n  refit_inputs: propagated\n"
      "  calibration:\n    text: t.txt\n",
      "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  const compress::CompressSettings& s = c->compression.settings;
  EXPECT_EQ(s.kv_heads, 0);
  EXPECT_EQ(s.kv_budget, 0.5);
  EXPECT_TRUE(s.regroup);
  EXPECT_EQ(s.holdback_tokens, 4096);
  EXPECT_EQ(s.refit_tokens, 1000);
  EXPECT_EQ(s.refit_ridge, 0.01);
  EXPECT_EQ(s.refit_inputs, "propagated");
  EXPECT_TRUE(ValidateServerConfig(*c).ok()) << ValidateServerConfig(*c);
}

// headroom-compress's defaults (docs/compression.md).
TEST(ServerConfigCompressionTest, DefaultsAreTheToolsDefaults) {
  auto c = ParseServerConfig("model:\n  path: m\n", "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  const compress::CompressSettings& s = c->compression.settings;
  EXPECT_EQ(s.kv_budget, 0.0);
  EXPECT_FALSE(s.regroup);
  EXPECT_EQ(s.holdback_tokens, 16384);
  EXPECT_EQ(s.refit_tokens, 65536);
  EXPECT_EQ(s.refit_ridge, 1e-4);
  EXPECT_EQ(s.refit_inputs, "original");
}

TEST(ServerConfigCompressionTest, BadValuesNameTheKeyAndLine) {
  const std::string head = "model:\n  path: m\ncompression:\n  method: auto\n";
  const struct {
    std::string yaml, error;
  } cases[] = {
      {"  kv_budget: 1.5\n",
       "c.yaml:5: compression.kv_budget: 1.5 must be in "
       "(0, 1]"},
      {"  kv_budget: -0.5\n", "c.yaml:5: compression.kv_budget: -0.5 must be"},
      {"  kv_budget: half\n",
       "c.yaml:5: compression.kv_budget: expected a "
       "number, got \"half\""},
      {"  kv_heads: 2\n  kv_budget: 0.5\n",
       "c.yaml:6: compression.kv_budget: 0.5 and kv_heads 2 are both given"},
      {"  kv_heads: -1\n", "c.yaml:5: compression.kv_heads: -1 must be >= 1"},
      {"  regroup: maybe\n",
       "c.yaml:5: compression.regroup: expected true or "
       "false"},
      {"  holdback_tokens: -1\n",
       "c.yaml:5: compression.holdback_tokens: -1 must be >= 0"},
      {"  refit_tokens: 0\n",
       "c.yaml:5: compression.refit_tokens: 0 must be > 0"},
      {"  refit_ridge: -1\n",
       "c.yaml:5: compression.refit_ridge: -1 must be >= 0"},
      {"  refit_inputs: sideways\n",
       "c.yaml:5: compression.refit_inputs: 'sideways' must be original or "
       "propagated"},
      {"  calibration:\n    text: t\n    tokens: -3\n",
       "c.yaml:7: compression.calibration.tokens: -3 must be >= 0"},
  };
  for (const auto& t : cases) {
    auto c = ParseServerConfig(head + t.yaml, "c.yaml");
    ASSERT_FALSE(c.ok()) << t.yaml;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(t.error))
        << t.yaml;
  }
}

TEST(ServerConfigCompressionTest, CrossFieldRules) {
  auto validate = [](const std::string& compression) {
    auto c = ParseServerConfig(
        "model:\n  path: m\ncompression:\n" + compression, "c.yaml");
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? ValidateServerConfig(*c) : c.status();
  };
  // A budget instead of kv_heads is enough to compute on load.
  EXPECT_TRUE(validate("  method: svd-a\n  kv_budget: 0.5\n  calibration:\n"
                       "    text: t\n")
                  .ok());
  EXPECT_THAT(std::string(validate("  method: svd-a\n  calibration:\n"
                                   "    text: t\n")
                              .message()),
              HasSubstr("compression.kv_heads: needed (>= 1), or "
                        "compression.kv_budget"));
  // A file fixes the heads and groups: a budget or regrouping would be
  // silently ignored.
  EXPECT_THAT(std::string(validate("  method: svd-a\n  projections: p\n"
                                   "  kv_budget: 0.5\n")
                              .message()),
              HasSubstr("compression.kv_budget: not with "
                        "compression.projections"));
  EXPECT_THAT(std::string(validate("  method: svd-a\n  projections: p\n"
                                   "  regroup: true\n")
                              .message()),
              HasSubstr("compression.regroup: not with "
                        "compression.projections"));
}

TEST(ServerConfigCompressionTest, FlagsSetEverySetting) {
  auto c = ParseServerConfig(
      "model:\n  path: m\ncompression:\n  method: auto\n  calibration:\n"
      "    text: t\n",
      "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  const char* argv[] = {
      "headroom-server",   "--kv-budget", "0.25",           "--regroup",
      "--holdback-tokens", "100",         "--refit-tokens", "200",
      "--refit-ridge",     "0",           "--refit-inputs", "propagated"};
  auto flags = ParseServerFlags(12, argv);
  ASSERT_TRUE(flags.ok()) << flags.status();
  ASSERT_TRUE(ApplyServerFlags(*flags, &*c).ok());
  const compress::CompressSettings& s = c->compression.settings;
  EXPECT_EQ(s.kv_budget, 0.25);
  EXPECT_TRUE(s.regroup);
  EXPECT_EQ(s.holdback_tokens, 100);
  EXPECT_EQ(s.refit_tokens, 200);
  EXPECT_EQ(s.refit_ridge, 0.0);
  EXPECT_EQ(s.refit_inputs, "propagated");

  const char* bad_inputs[] = {"headroom-server", "--refit-inputs", "x"};
  auto f = ParseServerFlags(3, bad_inputs);
  ASSERT_TRUE(f.ok());
  EXPECT_THAT(std::string(ApplyServerFlags(*f, &*c).message()),
              HasSubstr("compression.refit_inputs: 'x' must be"));
  const char* bad_budget[] = {"headroom-server", "--kv-budget", "most"};
  auto g = ParseServerFlags(3, bad_budget);
  ASSERT_TRUE(g.ok());
  EXPECT_THAT(std::string(ApplyServerFlags(*g, &*c).message()),
              HasSubstr("--kv-budget"));
}

}  // namespace
}  // namespace headroom::server
