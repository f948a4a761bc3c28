#!/usr/bin/env bash
# Every GPU check of the CUDA backend in one go, for a lent GPU machine
# (CUDA toolkit, CMake, ninja, Python; no internet, none of our Debian
# packages). Prepare here first:
#   bash scripts/fetch-gpu-deps.sh     # .gpu-deps/debs, .gpu-deps/shared
# then on the GPU machine, carrying .gpu-deps/debs and .gpu-deps/shared:
#   bash scripts/gpu-check.sh
# Steps: unpack the Debian packages (dpkg -x, or scripts/unpack_deb.py),
# build the runtime-only tree with CUDA for this card, run every op of the
# CUDA ops against the scalar reference first (cuda_device_ops_test: the
# failing op is named), then the CUDA tests (CUDA vs CPU logits on stories260K fp16/bf16 and on compressed models,
# greedy text, batched vs single, split-K long context, page accounting),
# the same under compute-sanitizer memcheck, then the decode benchmark on a
# synthetic ~1B model (headroom-bench-cuda-decode) and a summary table.
# Environment: CUDA_ARCH (default native), BENCH_ARGS (extra benchmark
# flags), OUT (where the log and JSON go; default build/gpu-check).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
out="${OUT:-build/gpu-check}"
mkdir -p "$out"
exec > >(tee "$out/gpu-check.log") 2>&1
stage() { printf '\n=== %s (%ds) ===\n' "$1" $((SECONDS - started)); }

stage "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
nvcc --version | tail -n 2

stage "dependencies"
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DHEADROOM_RUNTIME_ONLY=ON
            -DHEADROOM_CUDA=ON -DHEADROOM_BUILD_BENCH=ON
            "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-native}")
if [ -d .gpu-deps/debs ]; then
  root=$PWD/.gpu-deps/root
  if [ ! -d "$root" ]; then
    mkdir -p "$root"
    for deb in .gpu-deps/debs/*.deb; do
      if command -v dpkg >/dev/null; then
        dpkg -x "$deb" "$root"
      else
        python3 scripts/unpack_deb.py "$deb" "$root"
      fi
    done
  fi
  lib=$root/usr/lib/x86_64-linux-gnu
  export LD_LIBRARY_PATH="$lib:$lib/openblas-pthread:${LD_LIBRARY_PATH:-}"
  export PKG_CONFIG_LIBDIR="$lib/pkgconfig:$root/usr/share/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$root"
  cmake_args+=("-DCMAKE_PREFIX_PATH=$root/usr"
               "-DCMAKE_LIBRARY_PATH=$lib/openblas-pthread;$lib"
               "-DCMAKE_INCLUDE_PATH=$root/usr/include/x86_64-linux-gnu"
               "-DPKG_CONFIG_EXECUTABLE=$root/usr/bin/pkgconf")
  echo "using the Debian packages unpacked in $root"
else
  echo "no .gpu-deps/debs: using the system's packages"
fi
if [ ! -d ../shared/models ] && [ -d .gpu-deps/shared ]; then
  cmake_args+=("-DHEADROOM_SHARED_DIR=$PWD/.gpu-deps/shared")
fi

stage "build (runtime only, CUDA ${CUDA_ARCH:-native})"
cmake -S . -B build/gpu "${cmake_args[@]}" >"$out/cmake.log" 2>&1 ||
  { cat "$out/cmake.log"; exit 1; }
grep -E "Headroom:|CUDA" "$out/cmake.log" | head -n 5 || true
ninja -C build/gpu -j"$(nproc)" cuda_device_ops_test cuda_backend_test \
  runtime_device_ops_test runtime_forward_test \
  runtime_backend_factory_test headroom-bench-cuda-decode

stage "ops, one by one, against the scalar reference (CPU, then CUDA)"
status=0
build/gpu/tests/unit/runtime_device_ops_test --gtest_brief=1 || status=1
build/gpu/tests/unit/cuda_device_ops_test || status=1

stage "CUDA tests (CUDA vs CPU)"
build/gpu/tests/unit/cuda_backend_test || status=1
build/gpu/tests/unit/runtime_backend_factory_test --gtest_brief=1 || status=1
build/gpu/tests/unit/runtime_forward_test --gtest_brief=1 || status=1

stage "compute-sanitizer memcheck (CUDA tests)"
if command -v compute-sanitizer >/dev/null; then
  compute-sanitizer --tool memcheck --error-exitcode 3 --print-limit 20 \
    build/gpu/tests/unit/cuda_device_ops_test --gtest_brief=1 || status=1
  compute-sanitizer --tool memcheck --error-exitcode 3 --print-limit 20 \
    build/gpu/tests/unit/cuda_backend_test --gtest_brief=1 \
    --gtest_filter='-CudaBackendLongContextTest.*' || status=1
else
  echo "compute-sanitizer not found"; status=1
fi

stage "decode benchmark (synthetic ~1B model)"
# shellcheck disable=SC2086
build/gpu/bench/headroom-bench-cuda-decode ${BENCH_ARGS:-} |
  tee "$out/bench.txt"
grep '^{' "$out/bench.txt" >"$out/bench.jsonl"

stage "summary"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 - "$out/bench.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
mha = max(r["kv_heads"] for r in rows)
base = {(r["batch"], r["context"]): r for r in rows if r["kv_heads"] == mha}
print(f"{'kv_heads':>8} {'batch':>6} {'context':>7} {'tok/s':>9} "
      f"{'vs MHA':>7} {'% of bound':>10}")
for r in rows:
    b = base[(r["batch"], r["context"])]
    print(f"{r['kv_heads']:>8} {r['batch']:>6} {r['context']:>7} "
          f"{r['tokens_per_second']:>9.0f} "
          f"{r['tokens_per_second'] / b['tokens_per_second']:>6.2f}x "
          f"{100 * r['bound_seconds'] / r['step_seconds']:>9.0f}%")
PY
stage "done (tests $([ $status = 0 ] && echo passed || echo FAILED))"
exit $status
