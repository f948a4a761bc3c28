#!/usr/bin/env bash
# Prefill and single-sequence decode speed of the CPU backend on stories260K
# and on a synthetic 1024-dim, 12-layer, 16-head, 32000-vocab model, with 1
# and 2 threads, beside the memory-bandwidth bound (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD:-build/release}"
synthetic="${SYNTHETIC:-/tmp/headroom-synthetic-1024.bin}"
if [ ! -f "$synthetic" ]; then
  "$build/tools/headroom-make-synthetic" --out "$synthetic" --dim 1024 \
    --hidden 2816 --layers 12 --heads 16 --kv-heads 16 --vocab 32000 \
    --seq-len 2048 --seed 1
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for model in ../shared/models/stories260K/stories260K.bin "$synthetic"; do
  for threads in 1 2; do
    "$build/bench/headroom-bench-forward" --model "$model" --threads "$threads" \
      --prompt-tokens 128 --decode-tokens 32 --repeats 3
  done
done
