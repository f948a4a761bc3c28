# shellcheck shell=bash disable=SC2154  # build, work: set by the caller
# Sourced by the serving benchmarks (bench-serving.sh,
# bench-serving-sweep.sh): headroom-server configurations, start, wait for
# readiness, and stop on exit. The caller sets `build` (the build directory)
# and `work` (a scratch directory) before sourcing, from the repository root.

bench_pids=()
bench_cleanup() {
  local pid
  for pid in "${bench_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${bench_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap bench_cleanup EXIT

bench_require() {  # binary... (paths under $build)
  local bin
  for bin in "$@"; do
    [ -x "$build/$bin" ] || {
      echo "$(basename "$0"): $build/$bin not built (BUILD=$build)" >&2
      exit 1
    }
  done
}

bench_machine() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
}

# Writes $work/NAME.yaml: MODEL served as it is (METHOD none) or compressed
# on load to KV_HEADS KV heads by METHOD, calibrated on the non-empty lines
# CALIB_LINES of CALIB_TEXT (projections cached in $work/projections), with a
# KV pool of KV_BYTES bytes; ENGINE_EXTRA, if given, is one more `key: value`
# line of the engine section.
bench_write_config() {  # name model method kv_heads kv_bytes calib_text calib_lines [engine_extra]
  local name=$1 model=$2 method=$3 kv_heads=$4 kv_bytes=$5 text=$6 lines=$7
  local extra=${8:-}
  {
    echo "model:"
    echo "  path: $model"
    echo "compression:"
    echo "  method: $method"
    if [ "$method" != none ]; then
      echo "  kv_heads: $kv_heads"
      echo "  calibration:"
      echo "    text: $text"
      echo "    lines: \"$lines\""
      echo "  cache_dir: $work/projections"
    fi
    echo "engine:"
    echo "  kv_cache_memory_bytes: $kv_bytes"
    [ -z "$extra" ] || echo "  $extra"
    echo "drain_deadline_seconds: 5"
    echo "allow_anonymous: true"
  } >"$work/$name.yaml"
}

# Starts headroom-server on $work/NAME.yaml on a free loopback port (log in
# $work/NAME.log); METRICS "on" also serves /metrics on a free port, and
# the OpenAI API is on a free port too (bench_openai_url). The pid is
# appended to bench_pids.
bench_start_server() {  # name [metrics: on|off]
  local name=$1 metrics=""
  [ "${2:-off}" = on ] && metrics=127.0.0.1:0
  "$build/server/headroom-server" --config "$work/$name.yaml" \
    --listen 127.0.0.1:0 --metrics-listen "$metrics" \
    --http-listen 127.0.0.1:0 >"$work/$name.log" 2>&1 &
  bench_pids+=($!)
}

# Waits until NAME's server logs that it serves (model loaded, compressed),
# then prints its gRPC address; prints the log and fails if it exits first.
bench_wait_serving() {  # name pid
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
  echo "$(basename "$0"): $name did not start:" >&2
  cat "$work/$name.log" >&2
  return 1
}

# The OpenAI API's host:port that NAME's server logged.
bench_openai_addr() {  # name
  sed -n 's/.*openai listening on http:\/\/\([0-9.]*:[0-9]*\).*/\1/p' \
    "$work/$1.log" | head -1
}

# The /metrics URL NAME's server logged (started with metrics on).
bench_metrics_url() {  # name
  sed -n 's/.*metrics listening on \(http:[^ ]*\).*/\1/p' "$work/$1.log" | head -1
}
