#!/usr/bin/env bash
# The main job: installs what it needs, builds Headroom, starts headroom-server
# on the embedded default model (models/headroom-tiny, 8 KV heads) with its KV
# heads compressed on load to 4 (svd-a; deploy/config/default.yaml), streams a
# story through headroom-client, prints the KV memory saved as the server
# reports it, and stops the server. Needs nothing outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
source scripts/build-env.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build/release -j"$JOBS" headroom-server headroom-client
grpc_port="${GRPC_PORT:-50051}"
metrics_port="${METRICS_PORT:-9464}"
log="$(mktemp -t headroom-demo.XXXXXX.log)"
build/release/server/headroom-server --config deploy/config/default.yaml \
  --listen "127.0.0.1:$grpc_port" --metrics-listen "127.0.0.1:$metrics_port" \
  --http-listen "127.0.0.1:${HTTP_PORT:-8000}" \
  >"$log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
echo "demo: starting headroom-server (compressing the KV heads on load)"
for _ in $(seq 1 600); do
  grep -q "serving" "$log" && break
  if ! kill -0 $server 2>/dev/null; then cat "$log" >&2; exit 1; fi
  sleep 0.5
done
sed 's/^/  /' "$log"
client=build/release/tools/headroom-client
addr="127.0.0.1:$grpc_port"
prompt="${PROMPT:-Once upon a time}"
# By default the story fills the rest of the model's context (at most 200
# tokens): the context as the server reports it, less the prompt's tokens
# with BOS, so the request is valid for any served model and prompt.
context=$("$client" info --addr "$addr" --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["context_length"])')
prompt_tokens=$("$client" tokenize --addr "$addr" --add-bos --json \
  --text "$prompt" |
  python3 -c 'import json, sys; print(len(json.load(sys.stdin)["token_ids"]))')
room=$((context - prompt_tokens))
max_tokens="${MAX_TOKENS:-$((room < 200 ? room : 200))}"
echo
printf '%s' "$prompt"
"$client" generate --addr "$addr" --stream \
  --prompt "$prompt" --max-tokens "$max_tokens" \
  --temperature 0
echo
"$client" info --addr "$addr" --json | python3 -c '
import json, sys
i = json.load(sys.stdin)
orig, served = i["kv_bytes_per_token_original"], i["kv_bytes_per_token_served"]
method = i["compression_method"]
print(f"KV bytes per token: {orig} before compression, {served} after "
      f"({orig / served:.1f}x less), method {method}")
heads = [(l["kv_heads_original"], l["kv_heads_served"]) for l in i["layers"]]
print("KV heads per layer (original -> served): " +
      ", ".join(f"{a}->{b}" for a, b in heads))
for key in ("pool_capacity_tokens_original", "pool_capacity_tokens_served"):
    if key in i: print(f"{key}: {i[key]}")
'
echo "metrics: curl -s 127.0.0.1:$metrics_port/metrics | grep kv_"
curl -s "127.0.0.1:$metrics_port/metrics" | grep -E '^headroom:(kv_cache_capacity_tokens|kv_bytes_per_token|compression_ratio)' || true
