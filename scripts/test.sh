#!/usr/bin/env bash
# Builds and runs every test of Headroom:
#   1. the release build (CUDA too when nvcc is present), all tests, then the
#      README's main job exactly as the README shows it (bash
#      scripts/demo.sh, no overrides), its output checked for the story and
#      the memory-savings lines;
#   2. clang AddressSanitizer + UBSan build, all tests but those labelled
#      "slow" (quality measurements on real text), then each libFuzzer target
#      for a bounded time;
#   3. clang ThreadSanitizer build, the engine and server tests (label tsan).
# Installs the Debian packages it needs first (scripts/setup-deps.sh), and
# python3-torch for the architectures' reference test.
# FUZZ_SECONDS (default 30) bounds each fuzzer run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
# The architectures' independent reference (tests/reference/hf_forward.py)
# runs on Debian's PyTorch; only the tests need it, not the main job.
bash scripts/setup-deps.sh python3-torch python3-numpy
source scripts/build-env.sh
fuzz_seconds="${FUZZ_SECONDS:-30}"
started=$SECONDS

stage() { printf '\n=== %s (%ds elapsed) ===\n' "$1" $((SECONDS - started)); }

stage "test oracles (npm ci in tests/js, from its lockfile)"
npm ci --prefix tests/js --no-audit --no-fund --loglevel=error

stage "release build"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build/release -j"$JOBS"
stage "release tests"
ctest --test-dir build/release --output-on-failure -j"$JOBS" --timeout 900

stage "main job (the README's first command, as written)"
# Run as the README shows it: none of the demo's variables set.
env -u MAX_TOKENS -u PROMPT -u GRPC_PORT -u METRICS_PORT \
  bash scripts/demo.sh | tee build/demo.log
grep -qE "^Once upon a time.{40,}" build/demo.log  # the story streamed
grep -q "KV bytes per token: .* before compression, .* after" build/demo.log
grep -q "pool_capacity_tokens_served" build/demo.log

# After the release build: the image's compile finds its objects in ccache,
# and the check calls the image with build/release's headroom-client.
stage "container (scripts/container-check.sh: the cpu image built, run, checked)"
bash scripts/container-check.sh

stage "asan+ubsan build"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  -DHEADROOM_CUDA=OFF -DHEADROOM_SANITIZE="address;undefined" \
  -DHEADROOM_FUZZ=ON >/dev/null
ninja -C build/asan -j"$JOBS"
stage "asan+ubsan fuzzers (${fuzz_seconds}s each)"
for fuzzer in build/asan/tests/fuzz/*_fuzz; do
  [ -x "$fuzzer" ] || continue
  corpus="build/asan/fuzz-corpus/$(basename "$fuzzer")"
  mkdir -p "$corpus"
  "$fuzzer" -max_total_time="$fuzz_seconds" -print_final_stats=0 "$corpus" \
    2>&1 | tail -n 2
done
stage "asan+ubsan tests"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j"$JOBS" --timeout 1800 \
  -LE slow

if grep -rqs 'LABELS tsan' tests; then
  stage "tsan build (engine and server tests)"
  cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
    -DHEADROOM_CUDA=OFF -DHEADROOM_SANITIZE=thread \
    -DHEADROOM_BUILD_BENCH=OFF >/dev/null
  tsan_targets=$(ctest --test-dir build/tsan -N -L tsan | awk '/Test +#/ {print $3}')
  ninja -C build/tsan -j"$JOBS" $tsan_targets
  stage "tsan tests"
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    ctest --test-dir build/tsan --output-on-failure -j"$JOBS" -L tsan \
    --timeout 1800
fi
stage "all test stages passed"
