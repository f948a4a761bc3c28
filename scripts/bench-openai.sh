#!/usr/bin/env bash
# The same load over both front ends of one headroom-server (the embedded
# model, deploy/config/default.yaml on free loopback ports): headroom-bench
# --api grpc and --api openai alternating, ROUNDS times each, then the most
# concurrent SSE streams held (scripts/bench-sse-streams.py) with the
# server's RSS and threads. BUILD names the build directory (build/dev).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD:-build/dev}"
rounds="${ROUNDS:-2}"
log=$(mktemp)
"$build/server/headroom-server" --config deploy/config/default.yaml \
  --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  --http-listen 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 600); do
  grep -q "^headroom-server: serving" "$log" && break
  sleep 0.2
done
grpc=$(sed -n 's/.*grpc listening on \([0-9.]*:[0-9]*\).*/\1/p' "$log")
http=$(sed -n 's/.*openai listening on http:\/\/\([0-9.]*:[0-9]*\).*/\1/p' "$log")
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
load=(--prompts-file tests/data/tiny_stories.txt --prompt-words 8:24
      --concurrency "${CONCURRENCY:-8}" --num-requests "${REQUESTS:-200}"
      --max-tokens 64 --ignore-eos --temperature 0.8 --seed 1)
for r in $(seq 1 "$rounds"); do
  for api in grpc openai; do
    addr=$grpc
    [ "$api" = openai ] && addr=$http
    echo "--- round $r: --api $api"
    "$build/bench/headroom-bench" --api "$api" --addr "$addr" "${load[@]}" |
      grep -E "Target|Requests completed|Request throughput|Output token|ms  |TTFT|TPOT|ITL|E2E"
  done
done
for n in ${STREAMS:-1000 3000}; do
  echo "--- $n SSE streams at once"
  python3 scripts/bench-sse-streams.py --addr "$http" --pid "$pid" \
    --streams "$n" --max-tokens 96 || { tail -20 "$log"; exit 1; }
done
