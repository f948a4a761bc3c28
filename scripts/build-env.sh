# Sourced by the build scripts: compiler cache settings shared by every build
# directory, so a fresh clone (CI) reuses objects compiled before.
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_BASEDIR="$PWD"   # paths under the clone hash as relative
export CCACHE_NOHASHDIR=1      # the clone's directory does not matter
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-8G}"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros}"
JOBS="${JOBS:-$(nproc)}"
