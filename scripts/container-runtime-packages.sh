#!/usr/bin/env bash
# Prints, one a line and sorted, the Debian/Ubuntu packages that hold the
# shared libraries the given programs load (ldd, then dpkg -S): what the
# Dockerfile's runtime stages install, so the list follows the build stage's
# distribution and its package names (Ubuntu 24.04's t64 renames included).
#   scripts/container-runtime-packages.sh PROGRAM...
# Libraries that the runtime image brings or the host provides are left out:
# the CUDA driver (libcuda, libnvidia-*: the NVIDIA container toolkit mounts
# them) and CUDA toolkit libraries not installed from a package
# (/usr/local/cuda*: the nvidia/cuda runtime image has them).
# Exits 1 naming the library when one is not found or not from a package;
# 2 on bad usage. LDD names the ldd to run (tests).
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 PROGRAM..." >&2
  exit 2
fi
ldd_cmd="${LDD:-ldd}"

owner() {  # the package of a file; tries the path as listed and resolved,
  # with and without /usr (merged-/usr systems list either)
  local lib="$1" real candidates c out
  real=$(readlink -f "$lib")
  candidates=("$lib" "$real")
  for c in "$lib" "$real"; do
    case "$c" in
      /usr/lib/*) candidates+=("${c#/usr}") ;;
      /lib/*) candidates+=("/usr$c") ;;
    esac
  done
  for c in "${candidates[@]}"; do
    if out=$(dpkg-query -S "$c" 2>/dev/null); then
      # "pkg:arch, pkg2:arch: /path" -> pkg
      out="${out%%: /*}"
      out="${out%%,*}"
      echo "${out%%:*}"
      return 0
    fi
  done
  return 1
}

packages=()
for program in "$@"; do
  if [ ! -f "$program" ]; then
    echo "$0: $program: no such file" >&2
    exit 1
  fi
  if ! listing=$("$ldd_cmd" "$program" 2>&1); then
    echo "$0: ldd $program failed: $listing" >&2
    exit 1
  fi
  while read -r line; do
    case "$line" in
      *"=> not found"*)
        lib="${line%% *}"
        case "$lib" in
          libcuda.so* | libnvidia-*) continue ;;
        esac
        echo "$0: $program needs $lib, which is not found" >&2
        exit 1
        ;;
      *"=> /"*)
        path="${line#*=> }"
        path="${path%% (*}"
        ;;
      /*)  # the dynamic loader: "/lib64/ld-linux-x86-64.so.2 (0x...)"
        path="${line%% (*}"
        ;;
      *) continue ;;  # linux-vdso.so.1, statically linked, ...
    esac
    if pkg=$(owner "$path"); then
      packages+=("$pkg")
    else
      case "$(readlink -f "$path")" in
        /usr/local/cuda*) continue ;;
      esac
      echo "$0: $path (needed by $program) is not from a package" >&2
      exit 1
    fi
  done <<<"$listing"
done
printf '%s\n' "${packages[@]}" | sort -u
