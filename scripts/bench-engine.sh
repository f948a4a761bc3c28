#!/usr/bin/env bash
# Engine throughput against concurrency, original vs compressed under the
# same KV memory budget (docs/benchmarks.md). Model: stories260K-mha8 (8 KV
# heads), compressed to 4 and 2 KV heads with rope-commuting+refit,
# calibrated on TinyStories lines 1:2000.
# With PREFIXES=1,4,16,... the shared-prefix workload instead: prefix caching
# off and on (128-token system prompts, 16-token turns, 16 generated,
# REQUESTS requests, CONCURRENCY in flight; KV_BYTES default 4 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD:-build/release}"
work="${WORK:-/tmp/headroom-bench}"
mkdir -p "$work"
model=../shared/models/stories260K-mha8/stories260K_mha8.bin
for g in 4 2; do
  out="$work/mha8-g$g.st"
  [ -f "$out" ] || "$build/tools/headroom-compress" --model "$model" \
    --calib-text ../shared/data/tinystories_val.txt --calib-lines 1:2000 \
    --kv-heads "$g" --method rope-commuting+refit --out "$out" >/dev/null
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
if [ -n "${PREFIXES:-}" ]; then
  "$build/bench/headroom-bench-engine" --model "$model" \
    --projections "$work/mha8-g4.st,$work/mha8-g2.st" \
    --kv-cache-bytes "${KV_BYTES:-4194304}" --concurrency "${CONCURRENCY:-4}" \
    --prefixes "$PREFIXES" --prefix-tokens 128 --turn-tokens 16 \
    --max-tokens 16 --requests "${REQUESTS:-256}" 2>/dev/null
  exit
fi
"$build/bench/headroom-bench-engine" --model "$model" \
  --projections "$work/mha8-g4.st,$work/mha8-g2.st" \
  --kv-cache-bytes "${KV_BYTES:-2097152}" \
  --concurrency "${CONCURRENCY:-1,2,4,8,16,32,64}" \
  --prompt-tokens 64 --max-tokens 64 2>/dev/null
