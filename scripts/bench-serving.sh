#!/usr/bin/env bash
# Serving latency and throughput, original vs compressed KV cache under the
# same KV memory budget: two headroom-server processes on free loopback
# ports (stories260K-mha8, 8 KV heads; one uncompressed, one compressed to 2
# KV heads with rope-commuting+refit calibrated on TinyStories lines
# 1:2000), headroom-bench against each at several concurrencies, then a
# side-by-side table. Environment: BUILD (default build/release), WORK
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
for bin in "$build/server/headroom-server" "$build/bench/headroom-bench"; do
  [ -x "$bin" ] || { echo "bench-serving: $bin not built (BUILD=$build)" >&2; exit 1; }
done
mkdir -p "$work"

write_config() {  # name method
  local name=$1 method=$2
  {
    echo "model:"
    echo "  path: $model"
    echo "compression:"
    echo "  method: $method"
    if [ "$method" != none ]; then
      echo "  kv_heads: 2"
      echo "  calibration:"
      echo "    text: $text"
      echo "    lines: \"1:2000\""
      echo "  cache_dir: $work/projections"
    fi
    echo "engine:"
    echo "  kv_cache_memory_bytes: $kv_bytes"
    echo "drain_deadline_seconds: 5"
    echo "allow_anonymous: true"
  } >"$work/$name.yaml"
}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

start_server() {  # name
  local name=$1
  "$build/server/headroom-server" --config "$work/$name.yaml" \
    --listen 127.0.0.1:0 --metrics-listen "" >"$work/$name.log" 2>&1 &
  pids+=($!)
}

wait_serving() {  # name pid -> prints the gRPC address
  local name=$1 pid=$2
  for _ in $(seq 1 3000); do
    if grep -q "^headroom-server: serving" "$work/$name.log"; then
      sed -n 's/.*grpc listening on \([0-9.]*:[0-9]*\).*/\1/p' \
        "$work/$name.log" | head -1
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "bench-serving: $name did not start:" >&2
  cat "$work/$name.log" >&2
  return 1
}

write_config original none
write_config compressed rope-commuting+refit
start_server original
start_server compressed
addr_original=$(wait_serving original "${pids[0]}")
addr_compressed=$(wait_serving compressed "${pids[1]}")

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
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
