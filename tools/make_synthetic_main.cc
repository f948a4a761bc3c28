// headroom-make-synthetic: writes a model with random weights, for
// benchmarks and memory checks at sizes no shared model has.
//
//   headroom-make-synthetic --out PATH [--format llama2c|hf]
//       [--shape llama2-7b|llama2-13b|llama3-8b|llama3.1-8b|tinyllama-1.1b|
//                mistral-7b|qwen2.5-7b|qwen3-8b]
//       [--arch llama|llama-bias|mistral|qwen2|qwen3] [--sliding-window N]
//       [--dim 1024] [--hidden 2816] [--layers 12] [--heads 16]
//       [--kv-heads 16] [--vocab 32000] [--seq-len 2048] [--seed 1]
//       [--dtype f32|f16|bf16] [--shard-gib 4] [--tokenizer FILE]
//       [--weight-scale 1]
//
// --format hf writes a Hugging Face directory (config.json, sharded
// safetensors and their index) row by row: memory stays at one row whatever
// the size, so a LLaMA-2-7B shape (13.5 GB in bf16) is written on a small
// machine. --shape sets the dimensions of a published model (the flags
// given override them). --tokenizer copies a tokenizer file beside the
// weights. llama2.c files are fp32 and built in memory.
//
// Weights are uniform with standard deviation 0.02 (times --weight-scale;
// norm weights 1), so the activations stay finite; the text it generates is
// meaningless. Each row's values depend only on (seed, tensor, row),
// whatever the format or dtype.
#include <filesystem>
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/weights/hf_checkpoint.h"
#include "runtime/weights/hf_config.h"
#include "runtime/weights/llama2c_checkpoint.h"
#include "tools/cli_args.h"
#include "tools/model_bundle.h"
#include "tools/synthetic_weights.h"

namespace headroom::tools {
namespace {

absl::Status Run(int argc, char** argv) {
  auto args = CliArgs::Parse(argc, argv, 1,
                             {{"out"},
                              {"format"},
                              {"shape"},
                              {"arch"},
                              {"sliding-window"},
                              {"dim"},
                              {"hidden"},
                              {"layers"},
                              {"heads"},
                              {"kv-heads"},
                              {"vocab"},
                              {"seq-len"},
                              {"seed"},
                              {"dtype"},
                              {"shard-gib"},
                              {"tokenizer"},
                              {"weight-scale"}});
  if (!args.ok()) return args.status();
  auto out = args->Require("out");
  if (!out.ok()) return out.status();
  auto shape = SyntheticShape(args->Get("shape", "default"));
  if (!shape.ok()) return shape.status();
  runtime::ModelConfig c = *shape;
  struct IntFlag {
    const char* name;
    int* field;
  };
  int seed = 1;
  const IntFlag flags[] = {{"dim", &c.dim},
                           {"hidden", &c.hidden_dim},
                           {"layers", &c.n_layers},
                           {"heads", &c.n_heads},
                           {"kv-heads", &c.n_kv_heads},
                           {"vocab", &c.vocab_size},
                           {"seq-len", &c.max_seq_len},
                           {"seed", &seed}};
  for (const IntFlag& f : flags) {
    auto v = args->GetInt(f.name, *f.field);
    if (!v.ok()) return v.status();
    *f.field = *v;
  }
  if (c.n_heads <= 0 || c.dim % c.n_heads != 0) {
    return absl::InvalidArgumentError("--heads must divide --dim");
  }
  c.head_dim = c.dim / c.n_heads;
  auto window = args->GetInt("sliding-window", 4096);
  if (!window.ok()) return window.status();
  if (auto s = ApplySyntheticArchitecture(args->Get("arch"), *window, &c);
      !s.ok()) {
    return s;
  }
  if (auto s = c.Validate(); !s.ok()) return s;
  const std::string format = args->Get("format", "llama2c");
  auto dtype = runtime::ParseHfDtype(args->Get("dtype", "f32"));
  if (!dtype.ok()) return dtype.status();
  auto shard_gib = args->GetDouble("shard-gib", 4.0);
  if (!shard_gib.ok()) return shard_gib.status();
  auto scale = args->GetDouble("weight-scale", 1.0);
  if (!scale.ok()) return scale.status();
  if (!(*scale > 0.0 && *scale <= 100.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--weight-scale ", *scale, " must be in (0, 100]"));
  }
  const SyntheticWeights weights(static_cast<uint64_t>(seed),
                                 static_cast<float>(*scale));

  if (format == "hf") {
    c.rope_style = runtime::RopeStyle::kHalf;
    if (auto s = runtime::WriteShardedHfCheckpoint(
            c, *dtype, static_cast<int64_t>(*shard_gib * (1 << 30)),
            [&](const runtime::HfTensorSpec& spec, int64_t row, float* values) {
              weights.Row(spec.name, spec.shape, row, values);
            },
            *out);
        !s.ok()) {
      return s;
    }
  } else if (format == "llama2c") {
    if (*dtype != runtime::HfDtype::kF32) {
      return absl::InvalidArgumentError(
          "--dtype: llama2.c checkpoints are fp32; use --format hf");
    }
    c.rope_style = runtime::RopeStyle::kInterleaved;
    if (runtime::HfArchitectureName(c) != std::string("LlamaForCausalLM") ||
        c.output_bias ||
        c.rope_scaling.type != runtime::RopeScaling::Type::kNone) {
      return absl::InvalidArgumentError(
          "--arch / --shape: llama2.c checkpoints hold LLaMA 2 models only "
          "(no biases, norms, windows or rope_scaling); use --format hf");
    }
    if (auto s = runtime::WriteLlama2cCheckpoint(weights.Model(c), *out);
        !s.ok()) {
      return s;
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--format: expected llama2c or hf, got \"", format, "\""));
  }
  std::string tokenizer_note;
  if (const std::string tok = args->Get("tokenizer"); !tok.empty()) {
    const std::string dir =
        format == "hf" ? *out
                       : std::filesystem::path(*out).parent_path().string();
    auto copied = CopyTokenizerFile(tok, dir.empty() ? "." : dir);
    if (!copied.ok()) return copied.status();
    tokenizer_note = ", tokenizer " + *copied;
  }
  std::cout << absl::StrFormat(
      "wrote %s (%s, %s): dim %d, hidden %d, layers %d, heads %d, kv heads "
      "%d, vocab %d, context %d, %.1f M parameters%s\n",
      *out, format, runtime::HfDtypeName(*dtype), c.dim, c.hidden_dim,
      c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.max_seq_len,
      SyntheticParameterCount(c) / 1e6, tokenizer_note);
  return absl::OkStatus();
}

}  // namespace
}  // namespace headroom::tools

int main(int argc, char** argv) {
  return headroom::tools::RunToolMain("headroom-make-synthetic", argc, argv,
                                      headroom::tools::Run);
}
