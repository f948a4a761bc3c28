#!/usr/bin/env bash
# The main job: installs what it needs, builds Headroom, and generates a story.
# (Until the embedded default model and the server land, this runs
# headroom-generate on ../shared/models/stories260K.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
source scripts/build-env.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build/release -j"$JOBS" headroom-generate
model_dir="${HEADROOM_MODEL_DIR:-../shared/models/stories260K}"
if [ ! -f "$model_dir/stories260K.bin" ]; then
  echo "demo: $model_dir/stories260K.bin is absent (the shared models live beside the project root)" >&2
  exit 1
fi
build/release/tools/headroom-generate --model "$model_dir/stories260K.bin" \
  --prompt "${PROMPT:-Once upon a time}" --max-tokens "${MAX_TOKENS:-200}"
