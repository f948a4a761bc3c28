#!/usr/bin/env bash
# Builds Headroom's release binaries in a build stage of the Dockerfile and
# gathers what the runtime stage copies, under PREFIX:
#   PREFIX/bin/                    headroom-server, -client, -compress,
#                                  -generate, -eval, -convert (and with
#                                  CUDA libheadroom_cuda.so, the backend
#                                  module the server loads from beside it)
#   PREFIX/runtime-packages.txt    the packages of the shared libraries they
#                                  load (scripts/container-runtime-packages.sh)
# usage: scripts/container-build.sh ON|OFF PREFIX
#   ON|OFF: -DHEADROOM_CUDA (the CUDA backend; ON needs nvcc)
# Environment: JOBS (default: all cores), BUILD_DIR (default build/container),
# BUILD_TYPE (CMake's, default Release; scripts/container-check.sh builds
# RelWithDebInfo, the flags of the CI's release build, so that the compiler
# cache it shares has the objects already), CCACHE_DIR (scripts/build-env.sh:
# with its base directory settings, objects hash the same in any checkout).
set -euo pipefail

usage() {
  echo "usage: $0 ON|OFF PREFIX  (ON|OFF: build the CUDA backend)" >&2
  exit 2
}
[ $# -eq 2 ] || usage
case "$1" in ON | OFF) ;; *) usage ;; esac
[ -n "$2" ] || usage
cuda="$1"
prefix="$2"
cd "$(dirname "$0")/.."
source scripts/build-env.sh
build_dir="${BUILD_DIR:-build/container}"
build_type="${BUILD_TYPE:-Release}"
tools=(headroom-server headroom-client headroom-compress headroom-generate
       headroom-eval headroom-convert)

# No tests and no benchmarks (bench/ is only pulled in by the tests). An
# option the project no longer has stops the build (CMake only warns).
configured=$(cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE="$build_type" -DHEADROOM_CUDA="$cuda" \
  -DHEADROOM_BUILD_TESTS=OFF -DHEADROOM_BUILD_BENCH=OFF 2>&1) ||
  { echo "$configured" >&2; exit 1; }
echo "$configured"
if grep -q "Manually-specified variables were not used" <<<"$configured"; then
  echo "$0: CMake does not know an option passed above" >&2
  exit 1
fi
ninja -C "$build_dir" -j"$JOBS" "${tools[@]}"

mkdir -p "$prefix/bin"
for t in "${tools[@]}"; do
  # server/headroom-server, tools/headroom-*: wherever CMake put it.
  bin=$(find "$build_dir" -type f -name "$t" -perm -u+x | head -n 1)
  [ -n "$bin" ] || { echo "$0: $t was not built" >&2; exit 1; }
  install -m 0755 "$bin" "$prefix/bin/$t"
done
if [ "$cuda" = ON ]; then
  # The CUDA backend module: headroom-server loads it (dlopen) from beside
  # its executable when the config says device: cuda.
  ninja -C "$build_dir" -j"$JOBS" headroom_cuda
  install -m 0755 "$build_dir/runtime/cuda/libheadroom_cuda.so" \
    "$prefix/bin/libheadroom_cuda.so"
fi
strip --strip-unneeded "$prefix"/bin/*
bash scripts/container-runtime-packages.sh "$prefix"/bin/* \
  >"$prefix/runtime-packages.txt"
echo "container-build: $(ls "$prefix/bin" | wc -l) programs in $prefix/bin," \
  "runtime packages: $(tr '\n' ' ' <"$prefix/runtime-packages.txt")"
