#!/usr/bin/env bash
# Serving latency and throughput, original vs compressed KV cache under the
# same KV memory budget: two headroom-server processes on free loopback
# ports (stories260K-mha8, 8 KV heads; one uncompressed, one compressed to 2
# KV heads with rope-commuting+refit calibrated on TinyStories lines
# 1:2000), headroom-bench against each at several concurrencies, then a
# side-by-side table (scripts/bench-serving-sweep.sh: open-loop rates, three
# layouts, plots). Environment: BUILD (default build/release), WORK
# (default /tmp/headroom-bench-serving), KV_BYTES (default 1 MiB: 400 tokens
# in the original layout), CONCURRENCY (default "1 8 32"), MAX_TOKENS
# (default 64), REQUESTS_PER_STREAM (default 8; at least 16 requests).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD:-build/release}"
work="${WORK:-/tmp/headroom-bench-serving}"
kv_bytes="${KV_BYTES:-1048576}"
levels="${CONCURRENCY:-1 8 32}"
max_tokens="${MAX_TOKENS:-64}"
per_stream="${REQUESTS_PER_STREAM:-8}"
model=../shared/models/stories260K-mha8/stories260K_mha8.bin
text=../shared/data/tinystories_val.txt
source scripts/bench-common.sh
bench_require server/headroom-server bench/headroom-bench
mkdir -p "$work"

bench_write_config original "$model" none 0 "$kv_bytes" "$text" 1:2000
bench_write_config compressed "$model" rope-commuting+refit 2 "$kv_bytes" "$text" 1:2000
bench_start_server original
bench_start_server compressed
addr_original=$(bench_wait_serving original "${bench_pids[0]}")
addr_compressed=$(bench_wait_serving compressed "${bench_pids[1]}")

bench_machine
echo "model: $model, KV budget $kv_bytes bytes, max_tokens $max_tokens (ignore_eos)"
for name in original compressed; do
  grep -m1 "^headroom-server: serving" "$work/$name.log" | sed "s/^/$name: /"
done

for c in $levels; do
  n=$((c * per_stream)); [ "$n" -ge 16 ] || n=16
  for name in original compressed; do
    addr_var="addr_$name"
    "$build/bench/headroom-bench" --addr "${!addr_var}" --prompts-file "$text" \
      --concurrency "$c" --num-requests "$n" --max-tokens "$max_tokens" \
      --ignore-eos --temperature 0.8 --seed 1 --timeout 600 \
      --json "$work/$name-c$c.json" >"$work/$name-c$c.txt" 2>&1
  done
done

python3 - "$work" $levels <<'PY'
import json, sys
work, levels = sys.argv[1], sys.argv[2:]
def f(v):
    return "-" if v is None else f"{v:.2f}"
cols = ["TTFT mean", "TTFT p99", "ITL mean", "ITL p99", "tok/s", "ok/fail"]
print()
print(f"{'conc':>4}  {'layout':<10}" + "".join(f"{c:>11}" for c in cols))
for c in levels:
    for name in ("original", "compressed"):
        j = json.load(open(f"{work}/{name}-c{c}.json"))
        row = [f(j["ttft"]["mean_ms"]), f(j["ttft"]["p99_ms"]),
               f(j["itl"]["mean_ms"]), f(j["itl"]["p99_ms"]),
               f(j["output_token_throughput"]),
               f"{j['requests_completed']}/{j['requests_failed']}"]
        print(f"{c:>4}  {name:<10}" + "".join(f"{v:>11}" for v in row))
print("(latencies in ms; tok/s: generated tokens per second of the run)")
PY
