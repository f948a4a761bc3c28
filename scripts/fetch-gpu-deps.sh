#!/usr/bin/env bash
# Prepares what scripts/gpu-check.sh needs on a GPU machine that has the
# CUDA toolkit, CMake and ninja but none of our Debian packages and no
# internet: downloads the Debian 12 packages of the runtime-only build's
# dependencies (Abseil, nlohmann-json, OpenBLAS + LAPACK(E), SentencePiece,
# GoogleTest, pkgconf) into .gpu-deps/debs (about 20 MB; unpacked they pass
# the 64 MiB a device run carries, so gpu-check.sh unpacks them there with
# `dpkg -x`), and copies the shared test files the GPU tests read
# (stories260K, its -mha8 twin, the llama2.c reference logits, TinyStories
# validation text) into .gpu-deps/shared. .gpu-deps/ is ignored by git;
# carry .gpu-deps/debs and .gpu-deps/shared to the device run. Run here
# (Debian 12, apt reachable).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu-deps
packages=(
  libabsl-dev libabsl20220623 nlohmann-json3-dev
  libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libgfortran5
  liblapacke-dev liblapacke libtmglib3 libquadmath0
  libsentencepiece-dev libsentencepiece0
  libgtest-dev libgmock-dev
  pkgconf pkgconf-bin libpkgconf3
)
rm -rf "$out/debs" "$out/root"
mkdir -p "$out/debs"
# apt's _apt user must be able to write there.
chmod 777 "$out/debs"
(cd "$out/debs" && apt-get download "${packages[@]}" >/dev/null)

shared=../shared
rm -rf "$out/shared"
for f in models/stories260K models/stories260K-mha8 testdata \
         data/tinystories_val.txt; do
  mkdir -p "$out/shared/$(dirname "$f")"
  cp -r "$shared/$f" "$out/shared/$f"
done
du -sh "$out/debs" "$out/shared"
