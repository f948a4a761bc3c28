#!/usr/bin/env bash
# Headroom's CPU forward pass against llama.cpp on the same synthetic f32
# weights (docs/benchmarks.md, "CPU forward pass against llama.cpp").
#
#   bench/llama-cpp-compare.sh LLAMA_CPP_BUILD_DIR
#
# LLAMA_CPP_BUILD_DIR is a CPU build of llama.cpp holding bin/llama-bench,
# bin/llama-batched-bench and bin/llama-convert-llama2c-to-ggml (bin/llama-simple
# too, optional, for the greedy-token check). Environment: ROUNDS (3),
# THREADS ("1 2"), PROMPTS ("128 512"), DECODE (64), BATCH_SEQS (32, 0 skips
# the batched runs), BATCH_THREADS (2), BUILD (build/release), SYNTHETIC,
# GGUF, VOCAB, WEIGHTS ("f32"; any of f32 bf16 f16 q8_0: the forward-pass
# runs repeat per weight type, Headroom with --weights-dtype, llama.cpp on
# the f32 GGUF converted by its llama-quantize, which must then be built).
#
# 1. Makes the synthetic llama2.c checkpoint with headroom-make-synthetic (the
#    shape of scripts/bench-forward.sh: dim 1024, 12 layers, 16 heads, SwiGLU
#    2816, vocab 32000, 186.9 M parameters, tied classifier) and converts that
#    file to GGUF f32 with llama.cpp's llama2.c converter (vocabulary: the
#    LLaMA 2 tokenizer.bin). Checks every GGUF tensor byte for byte against
#    its slice of the checkpoint, and, when llama-simple is built, that both
#    programs pick the same greedy tokens.
# 2. Alternates the two programs run by run, ROUNDS times:
#    headroom-bench-forward (best of 3 repeats) against llama-bench (-r 3;
#    the best of its 3 samples, after its warm-up run) for prefill of P tokens
#    and decode of 64, per thread count; then, at BATCH_THREADS threads,
#    headroom-bench-engine against llama-batched-bench: BATCH_SEQS (and 1)
#    sequences of 128 prompt tokens each, 64 tokens generated each,
#    tokens/s = generated tokens / wall time of prefill + generation.
#    KV cache: Headroom f32; llama-batched-bench f32 (-ctk f32 -ctv f32);
#    llama-bench f16 (its default; this llama-bench takes no f32 cache type),
#    a small share of the bytes of a single-sequence step at these contexts.
# 3. Prints per (threads, metric) the two speeds and their ratio for each round
#    and the median ratio over rounds.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 LLAMA_CPP_BUILD_DIR" >&2
  exit 2
fi
lc="$(cd "$1" && pwd)"
cd "$(dirname "$0")/.."
build="${BUILD:-build/release}"
rounds="${ROUNDS:-3}"
threads_list="${THREADS:-1 2}"
prompts="${PROMPTS:-128 512}"
decode="${DECODE:-64}"
batch_seqs="${BATCH_SEQS:-32}"
batch_threads="${BATCH_THREADS:-2}"
weights_list="${WEIGHTS:-f32}"
synthetic="${SYNTHETIC:-/tmp/headroom-synthetic-1024.bin}"
gguf="${GGUF:-/tmp/headroom-synthetic-1024-f32.gguf}"
vocab="${VOCAB:-../shared/models/llama2-tokenizer/tokenizer.bin}"

for b in llama-bench llama-batched-bench llama-convert-llama2c-to-ggml; do
  if [ ! -x "$lc/bin/$b" ]; then
    echo "missing $lc/bin/$b (ninja -C $lc $b)" >&2
    exit 1
  fi
done
for b in tools/headroom-make-synthetic bench/headroom-bench-forward \
         bench/headroom-bench-engine tools/headroom-generate; do
  if [ ! -x "$build/$b" ]; then
    echo "missing $build/$b" >&2
    exit 1
  fi
done

work="$(mktemp -d /tmp/llama-cpp-compare.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# Copies of the Headroom binaries, so that a rebuild during the run does not
# change what is measured.
mkdir -p "$work/bin"
cp "$build/bench/headroom-bench-forward" "$build/bench/headroom-bench-engine" \
   "$build/tools/headroom-generate" "$work/bin/"
hr="$work/bin"

echo "machine: $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/.*: *//')"
echo "llama.cpp build: $lc ($(grep -m1 -o 'CMAKE_BUILD_TYPE:STRING=.*' "$lc/CMakeCache.txt" || true))"

if [ ! -f "$synthetic" ]; then
  "$build/tools/headroom-make-synthetic" --out "$synthetic" --dim 1024 \
    --hidden 2816 --layers 12 --heads 16 --kv-heads 16 --vocab 32000 \
    --seq-len 2048 --seed 1
fi
if [ ! -f "$gguf" ] || [ "$gguf" -ot "$synthetic" ]; then
  "$lc/bin/llama-convert-llama2c-to-ggml" --copy-vocab-from-model "$vocab" \
    --llama2c-model "$synthetic" --llama2c-output-model "$gguf" \
    > "$work/convert.log" 2>&1 || { cat "$work/convert.log" >&2; exit 1; }
fi

# --- same weights: every GGUF tensor against its slice of the checkpoint ----
python3 - "$synthetic" "$gguf" <<'EOF'
import struct, sys
ck_path, gg_path = sys.argv[1], sys.argv[2]
with open(ck_path, "rb") as f:
    dim, hidden, L, H, KVH, V, S = struct.unpack("<7i", f.read(28))
assert V > 0, "expected a tied classifier (positive vocab)"
kvd = dim * KVH // H
# llama2.c layout (floats, after the 28-byte header), layer-major per matrix.
order = [("emb", V * dim), ("att_norm", L * dim), ("wq", L * dim * dim),
         ("wk", L * dim * kvd), ("wv", L * dim * kvd), ("wo", L * dim * dim),
         ("ffn_norm", L * dim), ("w1", L * hidden * dim),
         ("w2", L * dim * hidden), ("w3", L * hidden * dim), ("norm", dim)]
off, region = 28, {}
for name, n in order:
    region[name] = (off, n)
    off += 4 * n
per_layer = {"attn_norm": ("att_norm", dim), "attn_q": ("wq", dim * dim),
             "attn_k": ("wk", dim * kvd), "attn_v": ("wv", dim * kvd),
             "attn_output": ("wo", dim * dim), "ffn_norm": ("ffn_norm", dim),
             "ffn_gate": ("w1", hidden * dim), "ffn_down": ("w2", dim * hidden),
             "ffn_up": ("w3", hidden * dim)}

def expected(tname):
    if tname in ("token_embd.weight", "output.weight"):
        return region["emb"][0], V * dim
    if tname == "output_norm.weight":
        return region["norm"][0], dim
    _, layer, kind, _ = tname.split(".")
    src, n = per_layer[kind]
    return region[src][0] + 4 * int(layer) * n, n

g = open(gg_path, "rb")  # noqa
def rd(fmt):
    return struct.unpack("<" + fmt, g.read(struct.calcsize("<" + fmt)))
def rstr():
    (n,) = rd("Q"); return g.read(n).decode("utf-8", "replace")
scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
          10: "Q", 11: "q", 12: "d"}
def rval(t):
    if t == 8: return rstr()
    if t == 9:
        et, n = rd("IQ")
        return [rval(et) for _ in range(n)]
    return rd(scalar[t])[0]
assert g.read(4) == b"GGUF", "not a GGUF file"
(version,) = rd("I"); n_t, n_kv = rd("QQ")
kv, ctx_at = {}, None
for _ in range(n_kv):
    k = rstr(); (t,) = rd("I")
    if k == "llama.context_length" and t == 4: ctx_at = g.tell()
    v = rval(t)
    kv[k] = v if not isinstance(v, list) else len(v)
tensors = []
for _ in range(n_t):
    name = rstr(); (nd,) = rd("I"); dims = rd("Q" * nd); typ, toff = rd("IQ")
    tensors.append((name, dims, typ, toff))
align = kv.get("general.alignment", 32)
base = (g.tell() + align - 1) // align * align
bad = 0
ck = open(ck_path, "rb")
for name, dims, typ, toff in tensors:
    n = 1
    for d in dims: n *= d
    eo, en = expected(name)
    ok = typ == 0 and n == en
    if ok:
        g.seek(base + toff); ck.seek(eo)
        left = 4 * n
        while ok and left:
            c = min(left, 64 << 20)
            ok = g.read(c) == ck.read(c)
            left -= c
    if not ok:
        bad += 1
        print(f"MISMATCH {name} dims {dims} type {typ}", file=sys.stderr)
# The converter writes a fixed context_length of 128; set the checkpoint's
# (metadata only: it silences llama.cpp's n_ctx > n_ctx_train warning).
if bad == 0 and ctx_at is not None and kv["llama.context_length"] != S:
    with open(gg_path, "r+b") as w:
        w.seek(ctx_at); w.write(struct.pack("<I", S))
    kv["llama.context_length"] = S
print(f"gguf check: {n_t} tensors, all f32 and byte-identical to the llama2.c "
      f"checkpoint: {'yes' if bad == 0 else 'NO (%d differ)' % bad}; "
      f"token_embd {tensors[0][1] if tensors else None}; "
      f"llama.* = {{{', '.join(f'{k[6:]}: {v}' for k, v in kv.items() if k.startswith('llama.'))}}}")
sys.exit(1 if bad else 0)
EOF

# --- same computation: greedy tokens of both (optional) --------------------
if [ -x "$lc/bin/llama-simple" ]; then
  prompt="Once upon a time"
  hr_text="$("$hr/headroom-generate" --model "$synthetic" --tokenizer "$vocab" \
    --prompt "$prompt" --max-tokens 24 --threads 2 2>/dev/null || true)"
  lc_text="$("$lc/bin/llama-simple" -m "$gguf" -n 24 "$prompt" 2>/dev/null || true)"
  lc_text="${lc_text#<s> }"   # llama-simple echoes the BOS piece
  if [ -n "$hr_text" ] && [ "$hr_text" = "$lc_text" ]; then same=yes; else same=NO; fi
  echo "greedy check, 24 tokens after \"$prompt\": same text from both: $same"
  echo "  headroom : $(printf '%s' "$hr_text" | tr '\n' ' ' | LC_ALL=C tr -c '[:print:]' '?' | head -c 120)"
  echo "  llama.cpp: $(printf '%s' "$lc_text" | tr '\n' ' ' | LC_ALL=C tr -c '[:print:]' '?' | head -c 120)"
fi

# --- the same weight types in both ----------------------------------------
declare -A gguf_of=([f32]="$gguf")
for w in $weights_list; do
  [ "$w" = f32 ] && continue
  gguf_of[$w]="${gguf%-f32.gguf}-$w.gguf"
  if [ ! -f "${gguf_of[$w]}" ] || [ "${gguf_of[$w]}" -ot "$gguf" ]; then
    [ -x "$lc/bin/llama-quantize" ] || {
      echo "WEIGHTS has $w: build $lc/bin/llama-quantize" >&2; exit 1; }
    "$lc/bin/llama-quantize" "$gguf" "${gguf_of[$w]}" \
      "$(echo "$w" | tr a-z A-Z)" > "$work/quantize-$w.log" 2>&1 ||
      { cat "$work/quantize-$w.log" >&2; exit 1; }
  fi
done

# --- alternating runs -------------------------------------------------------
results="$work/results.tsv"   # round threads metric headroom llama
: > "$results"
for round in $(seq 1 "$rounds"); do
  for w in $weights_list; do
  for t in $threads_list; do
    for p in $prompts; do
      out="$work/hr-$round-$w-$t-$p.txt"
      "$hr/headroom-bench-forward" --model "$synthetic" --threads "$t" \
        --weights-dtype "$w" --prompt-tokens "$p" --decode-tokens "$decode" \
        --repeats 3 > "$out"
      if [ "$round" = 1 ]; then sed -n '2,3p' "$out" | sed "s/^/  headroom $w: /"; fi
      lj="$work/lc-$round-$w-$t-$p.json"
      "$lc/bin/llama-bench" -m "${gguf_of[$w]}" -t "$t" -p "$p" -n "$decode" \
        -r 3 -o json > "$lj" 2> "$work/lc-$round-$w-$t-$p.err"
      python3 - "$out" "$lj" "$round" "$t" "$p" "$decode" "$w" >> "$results" <<'EOF'
import json, sys
hr_path, lc_path, rnd, t, p, n, w = sys.argv[1:]
hr = json.loads([l for l in open(hr_path) if l.startswith("{")][-1])
lc = json.load(open(lc_path))
def best(n_prompt, n_gen):
    for r in lc:
        if r["n_prompt"] == n_prompt and r["n_gen"] == n_gen:
            return max(r.get("samples_ts") or [r["avg_ts"]])
    raise SystemExit(f"no llama-bench result pp{n_prompt} tg{n_gen}")
print(f"{rnd}\t{t}\t{w} prefill pp{p}\t{hr['prefill_tokens_per_s']:.2f}\t{best(int(p), 0):.2f}")
print(f"{rnd}\t{t}\t{w} decode tg{n} (hr ctx {p})\t{hr['decode_tokens_per_s']:.2f}\t{best(0, int(n)):.2f}")
EOF
    done
  done
  done
  if [ "$batch_seqs" -gt 0 ]; then
    kv_ctx=$((batch_seqs * (128 + decode)))
    he="$work/hre-$round.txt"
    "$hr/headroom-bench-engine" --model "$synthetic" --tokenizer "$vocab" \
      --concurrency "1,$batch_seqs" --prompt-tokens 128 --max-tokens "$decode" \
      --threads "$batch_threads" --kv-cache-bytes $((2 * kv_ctx * 98304)) \
      > "$work/hre-$round.stdout" 2> "$he"
    if [ "$round" = 1 ]; then sed 's/^/  headroom-bench-engine: /' "$work/hre-$round.stdout"; fi
    lb="$work/lcb-$round.jsonl"
    "$lc/bin/llama-batched-bench" -m "$gguf" -t "$batch_threads" \
      -tb "$batch_threads" -c "$kv_ctx" -b 2048 -ub 512 -ctk f32 -ctv f32 \
      -npp 128 -ntg "$decode" -npl "1,$batch_seqs" --output-format jsonl \
      > "$lb" 2> "$work/lcb-$round.err"
    python3 - "$he" "$lb" "$round" "$batch_threads" >> "$results" <<'EOF'
import json, sys
he, lb, rnd, t = sys.argv[1:]
hr = {}
for l in open(he):
    if l.startswith("{"):
        j = json.loads(l); hr[j["concurrency"]] = j
        if j["preemptions"]:
            print(f"headroom preempted {j['preemptions']} times", file=sys.stderr)
lc = {}
for l in open(lb):
    if l.startswith("{"):
        j = json.loads(l); lc[j["pl"]] = j
for pl in sorted(lc):
    j = lc[pl]
    gen_tps = pl * j["tg"] / j["t"]
    print(f"{rnd}\t{t}\tbatched {pl} seq gen tok/s\t{hr[pl]['tokens_per_s']:.2f}\t{gen_tps:.2f}")
EOF
  fi
done

# --- table -----------------------------------------------------------------
python3 - "$results" "$rounds" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
rounds = int(sys.argv[2])
keys = []
for r in rows:
    if (r[1], r[2]) not in keys:
        keys.append((r[1], r[2]))
print()
print("tokens/s, headroom / llama.cpp = ratio, per round; median ratio")
hdr = f"{'thr':>3}  {'metric':<31}" + "".join(
    f"  {'round ' + str(i + 1):^24}" for i in range(rounds)) + "  median"
print(hdr)
for t, m in keys:
    cells, ratios = [], []
    for r in rows:
        if r[1] == t and r[2] == m:
            h, l = float(r[3]), float(r[4])
            ratios.append(h / l)
            cells.append(f"{h:7.1f} /{l:7.1f} ={h / l:5.2f}")
    print(f"{t:>3}  {m:<31}" + "".join(f"  {c:>24}" for c in cells) +
          f"  {statistics.median(ratios):6.2f}")
EOF
