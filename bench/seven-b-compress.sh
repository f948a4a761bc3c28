#!/usr/bin/env bash
# Compression of the LLaMA-2-7B-shaped checkpoint that bench/seven-b.sh
# writes (random bf16 weights): SVD-a at g = 16 and g = 8 with
# headroom-compress, the same on load in headroom-server (it answers a
# Generate once serving), and decode speed at 2k context of the original
# and both compressed models (headroom-bench-forward --projections). Every
# run under /usr/bin/time -v for its wall time and peak RSS. Random weights
# say nothing of quality: only time and memory are measured. Output is what
# docs/benchmarks.md quotes.
#
#   bash bench/seven-b-compress.sh [BUILD_DIR] [WORK_DIR]
#
# BUILD_DIR defaults to build/release, WORK_DIR to /tmp/headroom-7b (run
# bench/seven-b.sh first: it writes WORK_DIR/llama2-7b-bf16). Not part of
# CI.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
work="${2:-/tmp/headroom-7b}"
model="$work/llama2-7b-bf16"
text=../shared/data/tinystories_val.txt
threads="$(nproc)"
[ -f "$model/model.safetensors.index.json" ] || {
  echo "no checkpoint at $model: run bench/seven-b.sh first" >&2
  exit 1
}

source bench/timed.sh

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$threads cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "checkpoint: $(du -cb "$model"/*.safetensors | tail -1 |
  awk '{printf "%.2f GiB", $1 / 2^30}') bf16"
cat "$model"/*.safetensors >/dev/null  # in the page cache, as for a restart

# headroom-compress: 2048 calibration tokens (TinyStories validation lines
# 1-64), nothing held back (a named method needs no held-back lines).
for g in 16 8; do
  timed "headroom-compress svd-a g=$g" "$work/compress-g$g.time" \
    "$work/compress-g$g.json" \
    "$build/tools/headroom-compress" --model "$model" --calib-text "$text" \
    --calib-lines 1:64 --calib-tokens 2048 --holdback-tokens 0 \
    --kv-heads "$g" --method svd-a --threads "$threads" \
    --out "$work/svd-a-g$g.safetensors"
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1]));
print("  calibration %.1f s over %d sequences, transform %.1f s" % (
  j["calibration_seconds"], j["calibration_sequences"], j["transform_seconds"]))' \
    "$work/compress-g$g.json"
done

# On load in the server, as a user would run it (its defaults hold back
# calibration lines for the per-layer error report).
port=$((20000 + RANDOM % 20000))
log="$work/server-svd-a.log"
/usr/bin/time -v -o "$work/server-svd-a.time" "$build/server/headroom-server" \
  --model "$model" --compression-method svd-a --kv-heads 16 \
  --calibration-text "$text" --calibration-lines 1:24 \
  --calibration-tokens 1024 --cache-dir "" --listen "127.0.0.1:$port" \
  --metrics-listen "" --allow-anonymous --threads "$threads" \
  --kv-cache-memory-bytes 536870912 >"$log" 2>&1 &
server=$!
start=$SECONDS
until grep -q "serving" "$log"; do
  kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
  sleep 2
done
echo "server svd-a g=16 on load: serving after $((SECONDS - start)) s"
grep -E "^loaded|compress|serving" "$log" | sed 's/^/  /' | cut -c1-300
"$build/tools/headroom-client" generate --addr "127.0.0.1:$port" \
  --prompt "Once upon a time" --max-tokens 8 --temperature 0 --json |
  tail -1 | cut -c1-200
pkill -TERM -P "$server"  # the server, child of /usr/bin/time
wait "$server" || true
awk -F': ' '/Maximum resident/ {
  printf "server svd-a g=16: peak RSS %.2f GiB\n", $2 / 1048576}' \
  "$work/server-svd-a.time"

# Decode at 2k context: original, g=16, g=8 (prefill 2000, decode 16).
for variant in original g16 g8; do
  proj=()
  [ "$variant" = original ] || proj=(--projections "$work/svd-a-$variant.safetensors")
  timed "bench-forward $variant" "$work/bench2k-$variant.time" \
    "$work/bench2k-$variant.log" "$build/bench/headroom-bench-forward" \
    --model "$model" --threads "$threads" --prompt-tokens 2000 \
    --decode-tokens 16 --repeats 1 "${proj[@]}"
  head -3 "$work/bench2k-$variant.log" | sed 's/^/  /'
done
