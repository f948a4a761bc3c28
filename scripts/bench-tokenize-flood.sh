#!/usr/bin/env bash
# Server memory and Generate latency while 8 clients flood Tokenize with the
# largest text the limits allow (issue 12, docs/benchmarks.md). Two runs of
# headroom-server on deploy/config/default.yaml (the embedded model), one at
# a time, alternated ROUNDS times:
#   bounded:  engine.max_prompt_bytes 0, the default bound (the context
#             times the longest token's bytes); the flood sends texts of
#             exactly that many bytes;
#   unbounded: the bound lifted to 4 MiB, which is what 0c58d6e did (no
#             bound); the flood sends 3.9 MB texts, as in the issue.
# Per run: headroom-bench Generate latency alone (40 requests, 16 tokens,
# one at a time), then the same during the flood, and the server's VmRSS /
# VmHWM before and after. Environment: BUILD (default build/release), WORK
# (default /tmp/headroom-bench-flood), ROUNDS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD:-build/release}"
work="${WORK:-/tmp/headroom-bench-flood}"
rounds="${ROUNDS:-2}"
source scripts/bench-common.sh
bench_require server/headroom-server bench/headroom-bench tools/headroom-client
mkdir -p "$work"
bench_machine
prompts=$work/prompts.txt
printf 'Once upon a time there was a little girl\nThe dog ran to the park\n' >"$prompts"

write_config() {  # name max_prompt_bytes
  sed "s/^  max_prompt_bytes: .*/  max_prompt_bytes: $2/" \
    deploy/config/default.yaml >"$work/$1.yaml"
}
write_config bounded 0
write_config unbounded 4194304

rss() {  # pid: "VmRSS VmHWM" in MiB
  awk '/^VmRSS|^VmHWM/ {v[$1] = $2} END {printf "%.0f %.0f", v["VmRSS:"] / 1024, v["VmHWM:"] / 1024}' "/proc/$1/status"
}

median_e2e() {  # addr label
  "$build/bench/headroom-bench" --addr "$1" --prompts-file "$prompts" \
    --concurrency 1 --num-requests 40 --max-tokens 16 --temperature 0 \
    --json "$work/$2.json" >/dev/null
  python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))["e2e"]
print("%.2f %.2f" % (e["median_ms"], e["p99_ms"]))' "$work/$2.json"
}

run_one() {  # name round
  local name=$1 pid addr bytes text
  bench_start_server "$name"
  pid=${bench_pids[-1]}
  addr=$(bench_wait_serving "$name" "$pid")
  if [ "$name" = bounded ]; then
    bytes=$(sed -n 's/.*prompts up to \([0-9]*\) bytes.*/\1/p' "$work/$name.log")
  else
    bytes=3900000
  fi
  text=$work/text-$name.txt
  head -c "$bytes" /dev/zero | tr '\0' 'a' >"$text"
  local before alone flood after
  before=$(rss "$pid")
  alone=$(median_e2e "$addr" "$name-alone")
  local flooders=()
  for _ in $(seq 1 8); do
    (while :; do
      "$build/tools/headroom-client" tokenize --addr "$addr" \
        --text-file "$text" >/dev/null 2>&1 || true
    done) &
    flooders+=($!)
  done
  sleep 1
  flood=$(median_e2e "$addr" "$name-flood")
  after=$(rss "$pid")
  for f in "${flooders[@]}"; do kill "$f" 2>/dev/null || true; done
  wait "${flooders[@]}" 2>/dev/null || true
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  printf '%-10s %5s %9s  %-11s  %-11s  %-10s %-10s\n' "$name" "$2" "$bytes" \
    "$alone" "$flood" "$before" "$after"
}

printf '%-10s %5s %9s  %-11s  %-11s  %-10s %-10s\n' server round text_B \
  "alone_ms" "flood_ms" "MiB_before" "MiB_after"
printf '%-10s %5s %9s  %-11s  %-11s  %-10s %-10s\n' "" "" "" \
  "(p50 p99)" "(p50 p99)" "(RSS HWM)" "(RSS HWM)"
for round in $(seq 1 "$rounds"); do
  run_one bounded "$round"
  run_one unbounded "$round"
done
