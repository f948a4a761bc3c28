#include "server/model_setup.h"

#include <unistd.h>

#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "compress/apply.h"
#include "compress/calibration.h"
#include "compress/compress_settings.h"
#include "compress/compressor.h"
#include "compress/methods.h"
#include "compress/perplexity.h"
#include "compress/projections_file.h"
#include "compress/text_corpus.h"
#include "runtime/backend_factory.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/model/model_digest.h"
#include "runtime/util/sha256.h"
#include "runtime/weights/model_loader.h"

namespace headroom::server {
namespace {

namespace fs = std::filesystem;

absl::Status Prefixed(const absl::Status& s, const std::string& prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

}  // namespace

absl::Status CheckModelPath(const ModelSection& m) {
  std::error_code ec;
  const fs::file_status st = fs::status(m.path, ec);
  if (ec || !fs::exists(st)) {
    return absl::NotFoundError(
        absl::StrCat("model.path: ", m.path, " does not exist"));
  }
  if (m.format == "llama2c" && !fs::is_regular_file(st)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.path: ", m.path, " is not a file (model.format is llama2c)"));
  }
  if (m.format == "hf" && !fs::is_directory(st)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.path: ", m.path, " is not a directory (model.format is hf)"));
  }
  return absl::OkStatus();
}

namespace {

// Writes to a temporary name and renames, so a crash or a concurrent start
// never leaves a half-written cache file under the final name.
absl::Status SaveAtomically(const compress::Projections& p,
                            const std::string& path) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(
        "compression.cache_dir: cannot create ",
        fs::path(path).parent_path().string(), ": ", ec.message()));
  }
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  if (auto s = compress::SaveProjections(p, tmp); !s.ok()) return s;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return absl::InternalError(
        absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<compress::Projections> Compute(
    const ServerConfig& config, const runtime::ModelWeights& weights,
    const runtime::Tokenizer& tokenizer,
    const std::vector<std::string>& lines) {
  runtime::BackendOptions options;
  options.num_threads = config.engine.threads;
  const compress::CompressSettings& settings = config.compression.settings;
  compress::CompressOptions method;
  method.method = config.compression.method;
  // As headroom-compress does it with the same settings, once the
  // calibration's plan (its held-back lines) is known.
  auto prepare = [&](const compress::CalibrationStats& plan,
                     compress::CompressOptions& o) {
    o = compress::CompressOptionsFor(settings, o.method, weights, tokenizer,
                                     lines, plan, options);
    return absl::OkStatus();
  };
  // Layer by layer: memory holds one layer's statistics, not the model's.
  auto projections = compress::CalibrateAndCompress(
      weights, tokenizer, lines, compress::CalibrationOptionsFor(settings),
      options.num_threads, {method}, prepare, nullptr, nullptr);
  if (!projections.ok()) return Prefixed(projections.status(), "compression: ");
  return std::move((*projections)[0]);
}

}  // namespace

std::string ProjectionsCacheName(const std::string& model_digest,
                                 const CompressionSection& c,
                                 const std::string& calibration_digest) {
  const std::string key = absl::StrCat(
      "headroom-projections-cache v", compress::kProjectionsFormatVersion,
      "\nmodel ", model_digest, "\nmethod ", c.method, "\ncalibration ",
      calibration_digest, "\nlines ", c.calibration_first_line, ":",
      c.calibration_last_line, "\n", compress::SettingsKey(c.settings));
  return runtime::Sha256Hex(key) + ".safetensors";
}

std::string ProjectionsDigest(const compress::Projections& p) {
  runtime::Sha256 h;
  auto add = [&h](const std::string& s) {
    const uint64_t size = s.size();
    h.Update(&size, sizeof(size));
    h.Update(s.data(), s.size());
  };
  auto add_floats = [&h](const std::vector<float>& v) {
    const uint64_t size = v.size();
    h.Update(&size, sizeof(size));
    h.Update(v.data(), v.size() * sizeof(float));
  };
  add(p.method);
  for (const compress::LayerProjection& l : p.layers) {
    add(absl::StrCat(l.method, "/", l.kv_heads, "/",
                     compress::KeyModeName(l.key_mode)));
    // Regrouped heads (which original heads share a group) change the
    // function as much as the encoders do.
    std::string order;
    for (int head : l.kv_order) absl::StrAppend(&order, head, ",");
    add(order);
    add_floats(l.key_encoder);
    add_floats(l.query_decoder);
    add_floats(l.value_encoder);
    add_floats(l.value_decoder);
    add_floats(l.wo);
  }
  return h.HexDigest();
}

absl::StatusOr<ServedModel> LoadServedModel(
    const ServerConfig& config,
    const std::function<void(const std::string&)>& log) {
  auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  if (auto s = CheckModelPath(config.model); !s.ok()) return s;
  ServedModel served;
  served.model_path = config.model.path;
  auto weights_dtype =
      runtime::ParseWeightsDtypeOption(config.model.weights_dtype);
  if (!weights_dtype.ok()) {
    return Prefixed(weights_dtype.status(), "model.weights_dtype: ");
  }
  runtime::LoadOptions load;
  load.weights_dtype = *weights_dtype;
  auto weights = runtime::LoadModel(config.model.path, load);
  if (!weights.ok()) {
    return Prefixed(weights.status(),
                    absl::StrCat("model.path ", config.model.path, ": "));
  }
  served.weights = std::move(*weights);
  say(absl::StrCat("loaded ", config.model.path, ": ",
                   absl::SixDigits(served.weights.parameter_count() / 1e6),
                   " M parameters, weights ", served.weights.DtypeSummary(),
                   ", ", served.weights.weight_bytes() >> 20, " MiB"));
  std::string tokenizer_path = config.model.tokenizer;
  if (tokenizer_path.empty()) {
    auto found = runtime::FindTokenizerFor(config.model.path);
    if (!found.ok()) return Prefixed(found.status(), "model.tokenizer: ");
    tokenizer_path = *found;
  }
  auto tokenizer =
      runtime::LoadTokenizer(tokenizer_path, served.weights.config.vocab_size);
  if (!tokenizer.ok()) return Prefixed(tokenizer.status(), "model.tokenizer: ");
  served.tokenizer = std::move(*tokenizer);
  served.model_digest = runtime::ModelDigest(served.weights);
  const runtime::ModelConfig original = served.weights.config;

  const CompressionSection& cs = config.compression;
  std::optional<compress::Projections> projections;
  if (cs.method != "none") {
    if (auto spec = compress::ParseMethod(cs.method); !spec.ok()) {
      return Prefixed(spec.status(), "compression.method: ");
    }
    if (!cs.projections.empty()) {
      auto p = compress::LoadProjections(cs.projections);
      if (!p.ok()) return Prefixed(p.status(), "compression.projections: ");
      if (!p->content_digest_checked) {
        say(absl::StrCat("warning: compression.projections ", cs.projections,
                         " has no tensor digest (written before it was "
                         "recorded), so corruption cannot be detected; "
                         "recreate it with headroom-compress"));
      }
      projections = std::move(*p);
      served.projections_source = "file";
      served.projections_path = cs.projections;
    } else {
      if (auto bad =
              compress::CheckSettings(cs.settings, original.n_kv_heads)) {
        return absl::InvalidArgumentError(absl::StrCat(
            CompressionSettingKey(bad->field), ": ", bad->message));
      }
      auto lines = compress::ReadNonEmptyLines(cs.calibration_text,
                                               cs.calibration_first_line,
                                               cs.calibration_last_line);
      if (!lines.ok()) {
        return Prefixed(lines.status(), "compression.calibration.text: ");
      }
      // The same digest Calibrate records: the texts joined by '\n'.
      runtime::Sha256 h;
      for (size_t i = 0; i < lines->size(); ++i) {
        if (i > 0) h.Update("\n", 1);
        h.Update((*lines)[i].data(), (*lines)[i].size());
      }
      const std::string calib_digest = h.HexDigest();
      std::string cache_path;
      if (!cs.cache_dir.empty()) {
        cache_path =
            (fs::path(cs.cache_dir) /
             ProjectionsCacheName(served.model_digest, cs, calib_digest))
                .string();
        std::error_code ec;
        if (fs::exists(cache_path, ec)) {
          auto p = compress::LoadProjections(cache_path);
          if (p.ok() && !p->content_digest_checked) {
            // Our own cache: without a digest it cannot be trusted, and
            // recomputing it costs only the start-up time.
            say(absl::StrCat("ignoring cache file ", cache_path,
                             " without a tensor digest (older format)"));
          } else if (p.ok()) {
            projections = std::move(*p);
            served.projections_source = "cache";
            served.projections_path = cache_path;
            say(absl::StrCat("projections from cache ", cache_path));
          } else {
            say(absl::StrCat("ignoring unreadable cache file ", cache_path,
                             ": ", p.status().message()));
          }
        }
      }
      if (!projections.has_value()) {
        say(absl::StrCat(
            "calibrating ", cs.method, " to ",
            cs.settings.kv_budget != 0.0
                ? absl::StrCat("a KV budget of ", cs.settings.kv_budget)
                : absl::StrCat(cs.settings.kv_heads, " KV heads"),
            " on ", lines->size(), " lines of ", cs.calibration_text));
        auto p = Compute(config, served.weights, *served.tokenizer, *lines);
        if (!p.ok()) return p.status();
        projections = std::move(*p);
        served.projections_source = "computed";
        if (!cache_path.empty()) {
          if (auto s = SaveAtomically(*projections, cache_path); s.ok()) {
            served.projections_path = cache_path;
            say(absl::StrCat("projections cached at ", cache_path));
          } else {
            // Serving does not need the cache: warn and go on.
            say(absl::StrCat("warning: projections not cached: ", s.message()));
          }
        }
      }
    }
    if (auto s = compress::ApplyProjections(*projections, &served.weights);
        !s.ok()) {
      return Prefixed(s, "compression: ");
    }
    served.method = projections->method;
    served.projections_digest = ProjectionsDigest(*projections);
    served.compression_decision = projections->decision;
  }

  const runtime::ModelConfig& c = served.weights.config;
  for (int l = 0; l < c.n_layers; ++l) {
    ServedLayer layer;
    layer.kv_heads_original = original.n_kv_heads;
    layer.kv_heads_served = c.CacheKvHeads(l);
    if (projections.has_value() &&
        l < static_cast<int>(projections->layers.size())) {
      layer.key_energy = projections->layers[l].key_energy;
      layer.value_energy = projections->layers[l].value_energy;
      layer.method = projections->layers[l].method;
      layer.kv_order = projections->layers[l].kv_order;
    }
    served.layers.push_back(layer);
  }
  // Bytes per cached value on the serving device (fp32 on the CPU, fp16 /
  // bf16 on CUDA); the original layout is counted on the same device.
  const auto device = runtime::ParseDevice(config.device);
  if (!device.ok()) return device.status();
  const int64_t value_bytes = runtime::KvBytesPerValue(*device);
  served.kv_bytes_per_token_original =
      c.OriginalKvValuesPerToken() * value_bytes;
  served.kv_bytes_per_token_served = c.KvValuesPerToken() * value_bytes;
  return served;
}

}  // namespace headroom::server
