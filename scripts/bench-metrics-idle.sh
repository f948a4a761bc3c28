#!/usr/bin/env bash
# GET /metrics latency while idle connections are held open (issue 12):
# starts headroom-server (SERVER, default build/release/server/headroom-server,
# run from SERVER_DIR, default the repository root, with
# deploy/config/default.yaml on free loopback ports), waits until it serves,
# times REQUESTS (default 20) sequential GET /metrics with curl (30 s bound
# each) with no other connection, then opens IDLE (default 32) connections
# to the metrics port (half send a partial request line, half nothing),
# holds them and times REQUESTS more. Prints, for each run, the answers,
# median, max, how many took over 1 s and the sum (failures count 30 s).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
server="${SERVER:-$root/build/release/server/headroom-server}"
dir="${SERVER_DIR:-$root}"
idle="${IDLE:-32}"
requests="${REQUESTS:-20}"
[ -x "$server" ] || { echo "$0: $server not built" >&2; exit 1; }

log=$(mktemp)
(cd "$dir" && exec "$server" --config deploy/config/default.yaml \
  --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  --http-listen 127.0.0.1:0) >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 600); do
  grep -q "serving" "$log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5
done
grep -q "serving" "$log" || { echo "$0: server did not start" >&2; exit 1; }
port=$(sed -n 's|.*metrics listening on http://[^:]*:\([0-9]*\)/metrics.*|\1|p' "$log")

# Times $requests GETs; a failure (no 200 within 30 s) counts as 30 s.
measure() {
  local label=$1 i out code t times=() ok=0
  for i in $(seq "$requests"); do
    out=$(curl -s -o /dev/null --max-time 30 -w '%{http_code} %{time_total}' \
      "http://127.0.0.1:$port/metrics" || true)
    code=${out%% *} t=${out##* }
    if [ "$code" = 200 ]; then ok=$((ok + 1)); else t=30; fi
    times+=("$t")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk -v label="$label" -v ok="$ok" \
    -v n="$requests" '{ v[NR] = $1 * 1000; sum += $1; slow += ($1 > 1) }
    END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
          printf "%s: %d/%d answered 200, median %.2f ms, max %.2f ms, " \
                 "%d over 1 s, %.1f s in all\n", label, ok, n, m, v[NR],
                 slow, sum }'
}

echo "server: $server"
echo "machine: $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/.*: *//')"
measure "GET /metrics, no other connection"
fds=()
for i in $(seq "$idle"); do
  exec {fd}<>"/dev/tcp/127.0.0.1/$port"
  [ $((i % 2)) -eq 1 ] && printf 'GET /metr' >&"$fd"
  fds+=("$fd")
done
measure "GET /metrics, $idle idle connections held open"
for fd in "${fds[@]}"; do exec {fd}>&-; done
