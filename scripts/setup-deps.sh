#!/usr/bin/env bash
# Installs the Debian 12 packages that Headroom's build, tests and tools need.
# Idempotent: safe to run again; installs only what is missing.
#   scripts/setup-deps.sh            the packages below
#   scripts/setup-deps.sh PACKAGE... those instead (scripts/container-check.sh)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git python3 curl
  clang libclang-rt-14-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-cpp-dev
  libopenblas-dev liblapack-dev liblapacke-dev
  libsentencepiece-dev sentencepiece
  nlohmann-json3-dev
  libboost-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus yamllint python3-yaml
  # tests/deploy/helm-render (helm's template engine), built offline from
  # Debian's packaged Go sources
  golang-go golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev
  golang-github-xeipuuv-gojsonschema-dev
  libpcre2-dev libssl-dev libicu-dev
)
# The test oracles (tests/js, npm ci) need Node.js and npm; a machine that
# already has them (nodesource's nodejs carries npm) keeps its own.
if ! command -v npm >/dev/null 2>&1; then packages+=(nodejs npm); fi
if [ $# -gt 0 ]; then packages=("$@"); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
