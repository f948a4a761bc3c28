// headroom-make-synthetic: writes a llama2.c checkpoint with random weights,
// for benchmarks at sizes no shared model has.
//
//   headroom-make-synthetic --out FILE [--dim 1024] [--hidden 2816]
//       [--layers 12] [--heads 16] [--kv-heads 16] [--vocab 32000]
//       [--seq-len 2048] [--seed 1]
//
// Weights are uniform with standard deviation 0.02 (norm weights 1), so the
// activations stay finite; the text it generates is meaningless.
#include <iostream>
#include <random>

#include "absl/strings/str_format.h"
#include "runtime/weights/llama2c_checkpoint.h"
#include "tools/cli_args.h"

namespace headroom::tools {
namespace {

absl::Status Run(int argc, char** argv) {
  auto args = CliArgs::Parse(argc, argv, 1,
                             {{"out"},
                              {"dim"},
                              {"hidden"},
                              {"layers"},
                              {"heads"},
                              {"kv-heads"},
                              {"vocab"},
                              {"seq-len"},
                              {"seed"}});
  if (!args.ok()) return args.status();
  auto out = args->Require("out");
  if (!out.ok()) return out.status();
  runtime::ModelWeights w;
  runtime::ModelConfig& c = w.config;
  struct IntFlag {
    const char* name;
    int fallback;
    int* field;
  };
  int seed = 1;
  const IntFlag flags[] = {{"dim", 1024, &c.dim},
                           {"hidden", 2816, &c.hidden_dim},
                           {"layers", 12, &c.n_layers},
                           {"heads", 16, &c.n_heads},
                           {"kv-heads", 16, &c.n_kv_heads},
                           {"vocab", 32000, &c.vocab_size},
                           {"seq-len", 2048, &c.max_seq_len},
                           {"seed", 1, &seed}};
  for (const IntFlag& f : flags) {
    auto v = args->GetInt(f.name, f.fallback);
    if (!v.ok()) return v.status();
    *f.field = *v;
  }
  if (c.n_heads <= 0 || c.dim % c.n_heads != 0) {
    return absl::InvalidArgumentError("--heads must divide --dim");
  }
  c.head_dim = c.dim / c.n_heads;
  c.tied_embeddings = true;
  if (auto s = c.Validate(); !s.ok()) return s;

  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  // Uniform on [-a, a] has standard deviation a / sqrt(3).
  std::uniform_real_distribution<float> uniform(-0.0346f, 0.0346f);
  auto fill = [&](runtime::Tensor& t, int64_t rows, int64_t cols) {
    std::vector<float> values(rows * cols);
    for (float& v : values) v = uniform(rng);
    t = runtime::Tensor::FromF32(std::move(values), rows, cols);
  };
  const int64_t D = c.dim, F = c.hidden_dim, d = c.head_dim;
  fill(w.token_embedding, c.vocab_size, D);
  w.layers.resize(c.n_layers);
  for (runtime::LayerWeights& l : w.layers) {
    l.rms_att.assign(D, 1.0f);
    l.rms_ffn.assign(D, 1.0f);
    fill(l.wq, c.n_heads * d, D);
    fill(l.wk, c.n_kv_heads * d, D);
    fill(l.wv, c.n_kv_heads * d, D);
    fill(l.wo, D, c.n_heads * d);
    fill(l.w1, F, D);
    fill(l.w2, D, F);
    fill(l.w3, F, D);
  }
  w.rms_final.assign(D, 1.0f);
  if (auto s = runtime::WriteLlama2cCheckpoint(w, *out); !s.ok()) return s;
  const int64_t params = w.parameter_count();
  std::cout << absl::StrFormat(
      "wrote %s: dim %d, hidden %d, layers %d, heads %d, kv heads %d, vocab "
      "%d, context %d, %.1f M parameters\n",
      *out, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
      c.vocab_size, c.max_seq_len, params / 1e6);
  return absl::OkStatus();
}

}  // namespace
}  // namespace headroom::tools

int main(int argc, char** argv) {
  return headroom::tools::RunToolMain("headroom-make-synthetic", argc, argv,
                                      headroom::tools::Run);
}
