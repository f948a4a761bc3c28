#!/usr/bin/env bash
# A LLaMA-2-7B-shaped checkpoint on this machine: writes it (random weights,
# Hugging Face layout, bf16, 4 shards) with headroom-make-synthetic, then for
# each weight dtype measures load time, decode speed and its read-bandwidth
# bound (headroom-bench-forward), and serves it with headroom-server,
# answering a Generate over gRPC; every run under /usr/bin/time -v for its
# peak RSS. Output is what docs/benchmarks.md quotes.
#
#   bash bench/seven-b.sh [BUILD_DIR] [WORK_DIR] [DTYPES]
#
# BUILD_DIR defaults to build/release, WORK_DIR to /tmp/headroom-7b (13.5 GB
# of disk), DTYPES to "auto q8_0" (auto serves the checkpoint's bf16 mapped
# in place). Needs ../shared/models/llama2-tokenizer (the LLaMA 2 tokenizer,
# vocab 32000) for the server run. Not part of CI: it writes 13.5 GB and
# reads it several times.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
work="${2:-/tmp/headroom-7b}"
dtypes="${3:-auto q8_0}"
model="$work/llama2-7b-bf16"
tokenizer=../shared/models/llama2-tokenizer/tokenizer.model
threads="$(nproc)"

peak() {  # the peak RSS line of a /usr/bin/time -v log, in GiB
  awk -F': ' '/Maximum resident set size/ {printf "%.2f GiB", $2 / 1048576}' "$1"
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$threads cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
if [ ! -f "$model/model.safetensors.index.json" ]; then
  mkdir -p "$work"
  /usr/bin/time -v -o "$work/make.time" "$build/tools/headroom-make-synthetic" \
    --out "$model" --format hf --shape llama2-7b --dtype bf16 \
    --tokenizer "$tokenizer"
  echo "make-synthetic: $(awk -F': ' '/Elapsed/ {print $2}' "$work/make.time")" \
    "wall, peak RSS $(peak "$work/make.time")"
fi
bytes=$(du -cb "$model"/*.safetensors | tail -1 | cut -f1)
echo "checkpoint: $(ls "$model"/*.safetensors | wc -l) shards," \
  "$(awk -v b="$bytes" 'BEGIN {printf "%.2f GiB", b / 2^30}')"

for dtype in $dtypes; do
  # Cold start is the disk's business; measure with the file in the page
  # cache (one read first), as a restarted server finds it.
  cat "$model"/*.safetensors >/dev/null
  /usr/bin/time -v -o "$work/bench-$dtype.time" \
    "$build/bench/headroom-bench-forward" --model "$model" \
    --weights-dtype "$dtype" --threads "$threads" --prompt-tokens 16 \
    --decode-tokens 8 --repeats 2 | tee "$work/bench-$dtype.log"
  echo "bench-forward $dtype: peak RSS $(peak "$work/bench-$dtype.time")" \
    "($(awk -v b="$bytes" -F': ' '/Maximum resident/ {printf "%.2f", $2 * 1024 / b}' \
      "$work/bench-$dtype.time")x the checkpoint)"

  port=$((20000 + RANDOM % 20000))
  log="$work/server-$dtype.log"
  /usr/bin/time -v -o "$work/server-$dtype.time" "$build/server/headroom-server" \
    --model "$model" --weights-dtype "$dtype" --compression-method none \
    --projections "" --listen "127.0.0.1:$port" --metrics-listen "" --allow-anonymous \
    --threads "$threads" --kv-cache-memory-bytes 536870912 >"$log" 2>&1 &
  server=$!
  start=$SECONDS
  until grep -q "serving" "$log"; do
    kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
    sleep 1
  done
  echo "server $dtype: serving after $((SECONDS - start)) s"
  grep -E "^loaded|serving" "$log" | sed 's/^/  /'
  "$build/tools/headroom-client" generate --addr "127.0.0.1:$port" \
    --prompt "Once upon a time" --max-tokens 8 --temperature 0 --json |
    tail -1 | cut -c1-300
  kill -TERM $server
  wait $server || true
  echo "server $dtype: peak RSS $(peak "$work/server-$dtype.time")"
done
