// headroom-convert: any model the runtime reads -> a Hugging Face LLaMA
// checkpoint directory (config.json + model.safetensors).
//
//   headroom-convert --from PATH --to DIR [--dtype f32|f16|bf16]
//
// PATH is a llama2.c .bin file or an HF directory. llama2.c's interleaved
// RoPE rows are permuted into HF's rotate_half order, so the written model
// computes the same function. The tokenizer found beside PATH (if any) is
// copied into DIR: tokenizer.json (with its tokenizer_config.json) and
// tokenizer.model keep their names, a llama2.c tokenizer becomes
// tokenizer.bin. Prints one line on success; exit code 0, or 1 with
// the error on stderr.
#include <filesystem>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/tokenizers/tokenizer.h"
#include "runtime/weights/hf_checkpoint.h"
#include "runtime/weights/model_loader.h"
#include "tools/cli_args.h"
#include "tools/model_bundle.h"

namespace headroom::tools {
namespace {

namespace fs = std::filesystem;

constexpr char kUsage[] =
    "usage: headroom-convert --from PATH --to DIR [--dtype f32|f16|bf16] "
    "[--weights-dtype auto|f32|f16|bf16|q8_0]";

// Copies the source model's tokenizer into `to_dir`; returns a phrase for
// the summary line ("" when there is none to copy).
absl::StatusOr<std::string> CopyTokenizer(const std::string& from,
                                          const std::string& to_dir) {
  absl::StatusOr<std::string> tok = runtime::FindTokenizerFor(from);
  if (absl::IsNotFound(tok.status())) return std::string();
  if (!tok.ok()) return tok.status();
  absl::StatusOr<std::string> dst = CopyTokenizerFile(*tok, to_dir);
  if (!dst.ok()) return dst.status();
  std::error_code ec;
  if (fs::equivalent(*tok, *dst, ec)) {
    return absl::StrCat(", tokenizer ", *dst);
  }
  return absl::StrCat(", tokenizer ", *dst, " (from ", *tok, ")");
}

absl::Status Run(int argc, char** argv) {
  auto args = CliArgs::Parse(
      argc, argv, 1, {{"from"}, {"to"}, {"dtype"}, {kWeightsDtypeFlag}});
  if (!args.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(args.status().message(), "\n", kUsage));
  }
  if (!args->positional().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument \"", args->positional().front(), "\"\n", kUsage));
  }
  auto from = args->Require("from");
  if (!from.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(from.status().message(), "\n", kUsage));
  }
  auto to = args->Require("to");
  if (!to.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(to.status().message(), "\n", kUsage));
  }
  auto dtype = runtime::ParseHfDtype(args->Get("dtype", "f32"));
  if (!dtype.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dtype: ", dtype.status().message()));
  }

  auto load = LoadOptionsFromArgs(*args);
  if (!load.ok()) return load.status();
  auto weights = runtime::LoadModel(*from, *load);
  if (!weights.ok()) return weights.status();
  runtime::HfWriteOptions options;
  options.dtype = *dtype;
  if (absl::Status s = runtime::WriteHfCheckpoint(*weights, *to, options);
      !s.ok()) {
    return s;
  }
  auto tokenizer_note = CopyTokenizer(*from, *to);
  if (!tokenizer_note.ok()) return tokenizer_note.status();

  const runtime::ModelConfig& c = weights->config;
  std::cout << absl::StrFormat(
      "headroom-convert: wrote %s (config.json, model.safetensors %s; %d "
      "layers, dim %d, %d heads, %d KV heads, vocab %d, %d parameters%s%s)\n",
      *to, runtime::HfDtypeName(*dtype), c.n_layers, c.dim, c.n_heads,
      c.CacheKvHeads(0), c.vocab_size, weights->parameter_count(),
      c.rope_style == runtime::RopeStyle::kInterleaved
          ? ", q/k rows permuted to rotate_half"
          : "",
      *tokenizer_note);
  return absl::OkStatus();
}

}  // namespace
}  // namespace headroom::tools

int main(int argc, char** argv) {
  return headroom::tools::RunToolMain("headroom-convert", argc, argv,
                                      headroom::tools::Run);
}
