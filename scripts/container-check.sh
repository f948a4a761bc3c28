#!/usr/bin/env bash
# Builds the Dockerfile's cpu image with podman, runs it and checks from
# outside the container that it serves (CI: scripts/test.sh):
#   - the image's own HEALTHCHECK command succeeds (podman healthcheck run);
#   - a Generate over gRPC returns text (headroom-client of the host build,
#     or the image's own when there is none);
#   - /metrics carries the memory-savings families;
#   - the server process runs as uid 10001 (seen from the host's /proc);
#   - with no volume the embedded model is served, with a model mounted at
#     /models (--model /models/...) that one is;
#   - SIGTERM (podman stop) drains and exits 0.
# Then it removes the containers and the image it made. Any failure: a line
# "container-check: FAILED: ..." with the container's log, exit 1.
#
# Base images: debian:12 and debian:12-slim found locally are used as they
# are; else they are pulled from the registry; where none is reachable, one
# image from `debootstrap --variant=minbase bookworm` stands for both, its
# root file system cached in $HEADROOM_CACHE (default ~/.cache/headroom).
# The build mounts the host's compiler cache (CCACHE_DIR, scripts/build-env.sh)
# and compiles RelWithDebInfo, the flags of the CI's release build, so that
# after that build the image's compile is mostly cache hits.
#
# Podman on this kind of host (hybrid cgroups): RUN steps need
# --isolation=chroot, containers the runc runtime and cgroupfs, and ulimits
# within the host's hard limits.
# Environment: HEADROOM_CLIENT (a headroom-client to call from the host;
# default build/release/tools/headroom-client when it exists),
# CHECK_TIMEOUT (seconds to wait for SERVING, default 300).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/build-env.sh

image=localhost/headroom:container-check
build_tag=localhost/headroom-build:container-check  # keeps the build stage's
# layers (the apt-get install of the compilers) for the next run
cache="${HEADROOM_CACHE:-$HOME/.cache/headroom}"
timeout_s="${CHECK_TIMEOUT:-300}"
client="${HEADROOM_CLIENT:-build/release/tools/headroom-client}"
containers=()
scratch=$(mktemp -d)

log() { echo "container-check: $*"; }
fail() {
  echo "container-check: FAILED: $*" >&2
  for c in "${containers[@]}"; do
    echo "--- podman logs $c" >&2
    podman logs "$c" 2>&1 | tail -n 30 >&2 || true
  done
  exit 1
}
cleanup() {
  for c in "${containers[@]}"; do podman rm -f -t 5 "$c" >/dev/null 2>&1 || true; done
  podman rmi -f "$image" >/dev/null 2>&1 || true
  podman image prune -f >/dev/null 2>&1 || true  # the untagged layers
  rm -rf "$scratch"
}
trap cleanup EXIT

# The runtime flags this host needs (see above); ulimits at most the hard ones.
run_flags() {
  local nofile nproc
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
  [ "$nofile" = unlimited ] || [ "$nofile" -gt 1024 ] && nofile=1024
  [ "$nproc" = unlimited ] || [ "$nproc" -gt 4096 ] && nproc=4096
  echo "--ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc"
}
pod() { podman --runtime runc --cgroup-manager=cgroupfs "$@"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- base images -------------------------------------------------------------
debootstrap_base() {
  local tarball="$cache/container-base/debian-12-minbase.tar" rootfs
  if [ -s "$tarball" ]; then
    log "base: debootstrap bookworm minbase from the cache ($tarball)"
  else
    log "base: no registry reachable; debootstrap --variant=minbase bookworm" \
      "(cached in $tarball)"
    rootfs="$scratch/rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" >"$scratch/debootstrap.log" 2>&1 ||
      { tail -n 20 "$scratch/debootstrap.log" >&2; fail "debootstrap failed"; }
    # The host's Debian sources (updates and security too), as debian:12 has.
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
      rm -f "$rootfs/etc/apt/sources.list"
    fi
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    mkdir -p "$(dirname "$tarball")"
    tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  podman import --change 'CMD ["bash"]' "$tarball" localhost/debian:12 \
    >/dev/null 2>&1 || fail "podman import $tarball failed"
  podman tag localhost/debian:12 localhost/debian:12-slim
}

base_images() {
  if podman image exists debian:12 && podman image exists debian:12-slim; then
    log "base: debian:12 and debian:12-slim found locally ($(podman image inspect \
      --format '{{.Id}}' debian:12 | cut -c1-12))"
  elif timeout 120 podman pull -q docker.io/library/debian:12 >/dev/null 2>&1 &&
    timeout 120 podman pull -q docker.io/library/debian:12-slim >/dev/null 2>&1; then
    log "base: debian:12 and debian:12-slim pulled from the registry"
  else
    debootstrap_base
  fi
}

# --- build -------------------------------------------------------------------
build_image() {
  local flags=(--pull=never --isolation=chroot --format docker
    --build-arg BUILD_TYPE=RelWithDebInfo --build-arg CCACHE_DIR=/ccache
    --volume "$CCACHE_DIR:/ccache")
  mkdir -p "$CCACHE_DIR"
  local t0=$SECONDS
  podman build "${flags[@]}" --target build-cpu -t "$build_tag" . \
    >"$scratch/build.log" 2>&1 &&
    podman build "${flags[@]}" --target cpu -t "$image" . \
      >>"$scratch/build.log" 2>&1 ||
    { tail -n 40 "$scratch/build.log" >&2; fail "podman build failed"; }
  grep -m 1 "^container-build:" "$scratch/build.log" || true
  local bytes
  bytes=$(podman image inspect --format '{{.Size}}' "$image")
  log "image $image built in $((SECONDS - t0)) s, size $((bytes / 1000000)) MB"
}

# --- run and check -----------------------------------------------------------
# Starts a container NAME from the image with ARGS (headroom-server flags or
# podman options before the image, split by "--"), the three ports
# published on free host ports.
grpc_port="" metrics_port=""
start() {
  local name="$1"; shift
  local opts=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do opts+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  grpc_port=$(free_port) metrics_port=$(free_port)
  local http_port; http_port=$(free_port)
  containers+=("$name")
  # shellcheck disable=SC2046
  # (Without systemd, podman logs that it cannot add the healthcheck's
  # timer; `podman healthcheck run` below runs the check itself.)
  pod run -d --name "$name" $(run_flags) \
    -p "127.0.0.1:$grpc_port:50051" -p "127.0.0.1:$metrics_port:9464" \
    -p "127.0.0.1:$http_port:8000" "${opts[@]}" "$image" "$@" \
    >/dev/null 2>"$scratch/run.err" ||
    { cat "$scratch/run.err" >&2; fail "podman run $name failed"; }
}

# Waits until the image's HEALTHCHECK command passes (SERVING).
wait_healthy() {
  local name="$1" t0=$SECONDS
  until pod healthcheck run "$name" >/dev/null 2>&1; do
    [ "$(podman inspect --format '{{.State.Running}}' "$name")" = true ] ||
      fail "$name exited ($(podman inspect --format '{{.State.ExitCode}}' "$name"))" \
        "before its HEALTHCHECK passed"
    [ $((SECONDS - t0)) -lt "$timeout_s" ] ||
      fail "$name: HEALTHCHECK did not pass within $timeout_s s"
    sleep 1
  done
  log "$name: the image's HEALTHCHECK passes after $((SECONDS - t0)) s"
}

# headroom-client against the container: the host's when built, else the
# image's own (inside the container, on its port 50051).
call_client() {
  local name="$1" command="$2"; shift 2
  if [ -x "$client" ]; then
    "$client" "$command" --addr "127.0.0.1:$grpc_port" --timeout 60 "$@"
  else
    podman exec "$name" headroom-client "$command" --addr 127.0.0.1:50051 \
      --timeout 60 "$@"
  fi
}

check_serving() {
  local name="$1" model="$2" out
  out=$(call_client "$name" info --json) || fail "$name: info failed: $out"
  grep -q "\"model_path\":\"$model\"" <<<"$out" ||
    fail "$name: info names another model than $model: $out"
  log "$name: serves $model"
  out=$(call_client "$name" generate --prompt "Once upon a time" \
    --max-tokens 24 --seed 1) || fail "$name: generate failed: $out"
  [ "$(tr -d '[:space:]' <<<"$out" | wc -c)" -ge 10 ] ||
    fail "$name: generate returned no text: '$out'"
  log "$name: Generate: $(head -c 100 <<<"$out" | tr '\n' ' ')"
  out=$(curl -sf "http://127.0.0.1:$metrics_port/metrics") ||
    fail "$name: GET /metrics failed"
  for family in headroom:kv_cache_bytes_per_token headroom:compression_ratio \
    headroom:kv_cache_capacity_tokens headroom:kv_heads; do
    grep -q "^$family" <<<"$out" || fail "$name: /metrics has no $family"
  done
  log "$name: /metrics: $(grep -E '^headroom:(compression_ratio|kv_cache_bytes_per_token)' \
    <<<"$out" | tr '\n' ' ')"
  local pid uid
  pid=$(podman inspect --format '{{.State.Pid}}' "$name")
  uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
  [ "$uid" = 10001 ] || fail "$name: the server runs as uid $uid, not 10001"
  log "$name: $(tr '\0' ' ' <"/proc/$pid/cmdline") runs as uid $uid"
}

stop_cleanly() {
  local name="$1" code
  pod stop -t 60 "$name" >/dev/null 2>"$scratch/stop.err" ||
    { cat "$scratch/stop.err" >&2; fail "podman stop $name failed"; }
  code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
  [ "$code" = 0 ] || fail "$name: exit status $code after SIGTERM, not 0"
  log "$name: drained and exited 0 on SIGTERM"
}

started=$SECONDS
bash scripts/setup-deps.sh podman runc debootstrap curl python3
base_images
build_image

# 1. No volume: the embedded model.
start headroom-check-embedded
wait_healthy headroom-check-embedded
check_serving headroom-check-embedded /opt/headroom/models/headroom-tiny
stop_cleanly headroom-check-embedded

# 2. A model on the /models volume (a copy of headroom-tiny, read-only).
models="$scratch/models"
mkdir -p "$models" && cp -r models/headroom-tiny "$models/mounted-tiny"
chmod -R a+rX "$models"
start headroom-check-volume --volume "$models:/models:ro" -- \
  --model /models/mounted-tiny \
  --projections /models/mounted-tiny/projections-svd-a-kv4.safetensors
wait_healthy headroom-check-volume
check_serving headroom-check-volume /models/mounted-tiny
stop_cleanly headroom-check-volume

log "passed in $((SECONDS - started)) s"
