#!/usr/bin/env bash
# Prepares a runtime stage of the Dockerfile: installs the packages listed in
# PACKAGES_FILE (one a line; scripts/container-runtime-packages.sh wrote it in
# the build stage), creates the non-root user headroom (uid and gid 10001)
# and the directories it writes or reads: /var/lib/headroom (its home),
# /var/cache/headroom (projections cache) and /models (the model volume).
# usage: scripts/container-runtime-setup.sh PACKAGES_FILE   (as root)
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 PACKAGES_FILE" >&2
  exit 2
fi
if [ ! -r "$1" ]; then
  echo "$0: $1: cannot read the package list" >&2
  exit 1
fi
mapfile -t packages < <(grep -v '^[[:space:]]*$' "$1")
if [ ${#packages[@]} -eq 0 ]; then
  echo "$0: $1 lists no package" >&2
  exit 1
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  "${packages[@]}"
rm -rf /var/lib/apt/lists/*
useradd --system --uid 10001 --user-group --no-create-home \
  --home-dir /var/lib/headroom --shell /usr/sbin/nologin headroom
install -d -o headroom -g headroom /var/lib/headroom /var/cache/headroom \
  /models
