#!/usr/bin/env bash
# Compression time per method on the LLaMA-2-7B-shaped checkpoint that
# bench/seven-b.sh writes (random bf16 weights): one headroom-compress run
# computes every method in METHODS from one calibration at g = 16 (the tool's
# --method a,b,c), under /usr/bin/time -v for the wall time and the peak
# RSS, and prints the calibration time and each method's transform time.
# Random weights say nothing of quality: only time and memory are measured.
# Output is what docs/benchmarks.md quotes.
#
#   bash bench/seven-b-methods.sh [BUILD_DIR] [WORK_DIR]
#
# BUILD_DIR defaults to build/release, WORK_DIR to /tmp/headroom-7b.
# Environment: METHODS (every base method and svd-a+refit), KV_HEADS (16),
# REFIT_TOKENS (512: the W_O refit's fit set, and the tokens each layer's
# attention-output error is measured on). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/timed.sh
build="${1:-build/release}"
work="${2:-/tmp/headroom-7b}"
model="$work/llama2-7b-bf16"
text=../shared/data/tinystories_val.txt
threads="$(nproc)"
methods="${METHODS:-mean-pool,svd-w,svd-a,rope-commuting,svd-a-qa,rope-commuting-qa,svd-a+refit}"
kv_heads="${KV_HEADS:-16}"
refit_tokens="${REFIT_TOKENS:-512}"
[ -f "$model/model.safetensors.index.json" ] || {
  echo "no checkpoint at $model: run bench/seven-b.sh first" >&2
  exit 1
}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$threads cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
cat "$model"/*.safetensors >/dev/null  # in the page cache, as for a restart

# 2048 calibration tokens (TinyStories validation lines 1-64), nothing held
# back (named methods need no held-back lines).
timed "headroom-compress $methods g=$kv_heads" "$work/methods.time" \
  "$work/methods.jsonl" \
  "$build/tools/headroom-compress" --model "$model" --calib-text "$text" \
  --calib-lines 1:64 --calib-tokens 2048 --holdback-tokens 0 \
  --refit-tokens "$refit_tokens" --kv-heads "$kv_heads" --method "$methods" \
  --threads "$threads" --out "$work/methods-{method}.safetensors"
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    print("  %-18s calibration %.1f s (shared) over %d tokens, transform %.1f s" % (
        j["method"], j["calibration_seconds"], j["calibration_tokens"],
        j["transform_seconds"]))' "$work/methods.jsonl"
rm -f "$work"/methods-*.safetensors
