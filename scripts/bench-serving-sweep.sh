#!/usr/bin/env bash
# Serving under open-loop load, original vs compressed KV cache at the same
# KV memory budget: where each layout saturates as the request rate rises.
#
# Three headroom-server processes on free loopback ports, all with the same
# kv_cache_memory_bytes: the model as it is (n KV heads) and compressed on
# load to n/2 and n/4 KV heads (METHOD, calibrated on the non-empty
# TinyStories lines CALIB_LINES). headroom-bench sends Poisson arrivals at
# each rate of RATES to one server at a time (the other two sit idle; their
# CPU time is recorded to show it, and so is the CPU other users of the
# machine took during each run), the layouts interleaved per rate in a
# rotating order so that drift on a shared machine hits all of them alike.
# Prompts: the first PROMPT_WORDS words of non-empty lines 3001 to the end
# of the same file (disjoint from the calibration lines); each request
# generates MAX_TOKENS tokens (ignore_eos). Each run sends RATE x SECONDS
# requests (at least MIN_REQUESTS), the same arrivals and prompts for every
# layout at a rate (one --rng-seed per rate). Then scripts/plot-serving.py prints the
# table and writes docs/img/serving-*.png.
#
# Environment: BUILD (default build/release), WORK (default
# /tmp/headroom-bench-sweep), MODEL (default models/headroom-tiny), METHOD
# (default svd-a-qa+refit, the best for that model in docs/results.md),
# KV_BYTES (default 1 MiB), RATES (default "16 32 48 64 80 96 112 128 160
# 192"), SECONDS_PER_RUN (default 10), MIN_REQUESTS (default 48), MAX_TOKENS
# (default 64), PROMPT_WORDS (default 4:16: the default model has 128 tokens of
# context, prompt and output), SLO_TTFT_MS (default 100), SLO_TPOT_MS
# (default 5), CALIB_LINES (default 1:2000), PLOT (default 1: the PNGs, into
# IMG_DIR, default docs/img; 0: the table only), LAYOUT_SET (default
# kv-heads: the three layouts above; admission: the original layout with
# engine.admission_reserve false ("original-greedy") and true ("original"),
# and n/4 KV heads with it true). The plots need Debian's
# python3-matplotlib: installed here with apt-get when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD:-build/release}"
work="${WORK:-/tmp/headroom-bench-sweep}"
model="${MODEL:-models/headroom-tiny}"
method="${METHOD:-svd-a-qa+refit}"
kv_bytes="${KV_BYTES:-1048576}"
rates="${RATES:-16 32 48 64 80 96 112 128 160 192}"
seconds="${SECONDS_PER_RUN:-10}"
min_requests="${MIN_REQUESTS:-48}"
max_tokens="${MAX_TOKENS:-64}"
prompt_words="${PROMPT_WORDS:-4:16}"
slo_ttft="${SLO_TTFT_MS:-100}"
slo_tpot="${SLO_TPOT_MS:-5}"
calib_lines="${CALIB_LINES:-1:2000}"
text=../shared/data/tinystories_val.txt
source scripts/bench-common.sh
bench_require server/headroom-server bench/headroom-bench
[ -f "$text" ] || { echo "bench-serving-sweep: $text missing" >&2; exit 1; }
mkdir -p "$work"
rm -f "$work"/*.json
if [ "${PLOT:-1}" = 1 ] && ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  echo "bench-serving-sweep: python3-matplotlib missing; installing it for the plots" >&2
  if [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq python3-matplotlib >/dev/null; } ||
      echo "bench-serving-sweep: apt-get failed; the table only" >&2
  else
    echo "bench-serving-sweep: not root: run sudo apt-get install python3-matplotlib; the table only" >&2
  fi
fi

# KV heads of the model (config.json or the llama2.c header).
if [ -d "$model" ]; then
  n=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]+"/config.json")); print(c.get("num_key_value_heads", c["num_attention_heads"]))' "$model")
else
  n=$(python3 -c 'import struct,sys; print(struct.unpack("<7i", open(sys.argv[1],"rb").read(28))[4])' "$model")
fi
case "${LAYOUT_SET:-kv-heads}" in
  kv-heads)
    layouts=(original "g$((n / 2))" "g$((n / 4))")
    bench_write_config "g$((n / 2))" "$model" "$method" $((n / 2)) "$kv_bytes" "$text" "$calib_lines"
    ;;
  admission)
    layouts=(original-greedy original "g$((n / 4))")
    bench_write_config original-greedy "$model" none 0 "$kv_bytes" "$text" \
      "$calib_lines" "admission_reserve: false"
    ;;
  *) echo "bench-serving-sweep: LAYOUT_SET must be kv-heads or admission" >&2; exit 2 ;;
esac
bench_write_config original "$model" none 0 "$kv_bytes" "$text" "$calib_lines"
bench_write_config "g$((n / 4))" "$model" "$method" $((n / 4)) "$kv_bytes" "$text" "$calib_lines"

# Prompts: non-empty lines 3001.. ("non-empty" as the tools count them: a
# line of spaces counts; headroom-bench skips it).
grep -v '^$' "$text" | sed -n '3001,$p' >"$work/prompts.txt"

declare -A addr pid metrics
for i in 0 1 2; do
  # One at a time: the calibration on load takes both cores.
  bench_start_server "${layouts[$i]}" on
  pid[${layouts[$i]}]=${bench_pids[$i]}
  addr[${layouts[$i]}]=$(bench_wait_serving "${layouts[$i]}" "${bench_pids[$i]}")
  metrics[${layouts[$i]}]=$(bench_metrics_url "${layouts[$i]}")
done

bench_machine
echo "load average before the sweep: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model: $model, $n KV heads; compressed layouts: $method, calibrated on non-empty lines $calib_lines of $text"
echo "KV budget $kv_bytes bytes; prompts: first $prompt_words words of non-empty lines 3001.. ($(wc -l <"$work/prompts.txt") lines); max_tokens $max_tokens (ignore_eos)"
echo "open loop, Poisson arrivals, rate x $seconds s requests per run (at least $min_requests); SLO: TTFT <= $slo_ttft ms, TPOT <= $slo_tpot ms"
for name in "${layouts[@]}"; do
  grep -m1 "^headroom-server: serving" "$work/$name.log" | sed "s/^/$name: /"
done
# Labels for the plots: KV heads and the pool in tokens, as the server said.
python3 - "$work" "$model" "$kv_bytes" "$n" "${layouts[@]}" <<'PY'
import json, re, sys
work, model, kv_bytes, n, layouts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
labels = {}
for name in layouts:
    log = open(f"{work}/{name}.log").read()
    m = re.search(r"KV pool (\d+) pages of (\d+) tokens", log)
    heads = n if name.startswith("original") else int(name[1:])
    labels[name] = (f"{name}: {heads} KV heads, pool {int(m.group(1)) * int(m.group(2))} tokens"
                    if m else name)
json.dump({"model": model, "kv_bytes": kv_bytes, "labels": labels},
          open(f"{work}/layouts.json", "w"), indent=1)
PY

hz=$(getconf CLK_TCK)
cpu_seconds() {  # pid -> user + system CPU seconds of the process so far
  awk -v hz="$hz" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}
machine_busy_seconds() {  # CPU seconds the whole machine spent busy so far
  awk -v hz="$hz" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}
preemptions() {  # metrics URL -> headroom:num_preemptions_total
  curl -sf "$1" | awk '$1 == "headroom:num_preemptions_total" { print $2 }'
}
bench() {  # name out-json time-file bench-args... (CPU of the bench in time-file)
  local name=$1 out=$2 timing=$3; shift 3
  /usr/bin/time -f '%U %S' -o "$timing" "$build/bench/headroom-bench" \
    --addr "${addr[$name]}" \
    --prompts-file "$work/prompts.txt" --prompt-words "$prompt_words" \
    --max-tokens "$max_tokens" --ignore-eos --temperature 0.8 --seed 1 \
    --slo-ttft-ms "$slo_ttft" --slo-tpot-ms "$slo_tpot" --timeout 600 \
    --json "$out" "$@"
}

# Warm-up (not recorded): the first requests of a fresh process are slower.
for name in "${layouts[@]}"; do
  bench "$name" "$work/warmup-$name.json" "$work/warmup-$name.time" \
    --concurrency 4 --num-requests 32 >/dev/null 2>&1
done

# Each run: the bench's JSON, and beside it (.server.json) the server's
# preemptions, every server's CPU seconds, and the CPU the rest of the
# machine used meanwhile (busy time less the servers' and the bench's, per
# second of the run: other users of this shared machine).
k=0
for rate in $rates; do
  requests=$(python3 -c "print(max($min_requests, round($rate * $seconds)))")
  for j in 0 1 2; do
    name=${layouts[$(((j + k) % 3))]}
    run="$work/$name-r$rate"
    cpu0=()
    for i in 0 1 2; do cpu0[i]=$(cpu_seconds "${pid[${layouts[$i]}]}"); done
    pre0=$(preemptions "${metrics[$name]}")
    busy0=$(machine_busy_seconds)
    wall0=$(date +%s.%N)
    bench "$name" "$run.json" "$run.time" --request-rate "$rate" \
      --num-requests "$requests" --rng-seed "$((k + 1))" >"$run.txt" 2>&1 \
      || { echo "bench-serving-sweep: $name at $rate req/s failed:" >&2; cat "$run.txt" >&2; exit 1; }
    wall1=$(date +%s.%N)
    busy1=$(machine_busy_seconds)
    pre1=$(preemptions "${metrics[$name]}")
    cpu1=()
    for i in 0 1 2; do cpu1[i]=$(cpu_seconds "${pid[${layouts[$i]}]}"); done
    python3 - "$run.server.json" "$name" "$rate" "$pre0 $pre1" \
      "$wall0" "$wall1" "$busy0" "$busy1" "$(cat "$run.time")" \
      "${layouts[*]}" "${cpu0[*]}" "${cpu1[*]}" <<'PY'
import json, sys
(out, name, rate, pre, wall0, wall1, busy0, busy1, bench_cpu, layouts,
 cpu0, cpu1) = sys.argv[1:]
wall = float(wall1) - float(wall0)
servers = {l: round(float(b) - float(a), 2)
           for l, a, b in zip(layouts.split(), cpu0.split(), cpu1.split())}
bench = sum(float(x) for x in bench_cpu.split())
others = float(busy1) - float(busy0) - sum(servers.values()) - bench
json.dump({"layout": name, "rate": float(rate),
           "preemptions": round(float(pre.split()[1]) - float(pre.split()[0])),
           "wall_s": round(wall, 2), "server_cpu_s": servers,
           "bench_cpu_s": round(bench, 2),
           "other_cpu_per_s": round(max(0.0, others) / wall, 2)},
          open(out, "w"), indent=1)
PY
    echo "rate $rate req/s: $name done ($requests requests)" >&2
  done
  k=$((k + 1))
done
echo "load average after the sweep: $(cut -d' ' -f1-3 /proc/loadavg)"

plot_args=(--out-dir "${IMG_DIR:-docs/img}")
[ "${PLOT:-1}" = 1 ] || plot_args+=(--no-plots)
/usr/bin/python3 scripts/plot-serving.py "${plot_args[@]}" --layouts "${layouts[@]}" -- "$work" \
  || [ $? = 3 ]  # 3: no matplotlib (said so); the table is printed
