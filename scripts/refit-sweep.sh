#!/bin/bash
# The W_O refit's free choices (docs/compression.md, "W_O refit"): fit
# tokens, ridge and inputs, each measured as held-out perplexity of
# svd-a-qa+refit and rope-commuting+refit (one calibration per setting).
#   scripts/refit-sweep.sh [BUILD_DIR]   (default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
T=../shared/data/tinystories_val.txt
TINY=models/headroom-tiny
S=../shared/models/stories260K/stories260K.bin
WORK=$(mktemp -d)
EVT=$(python3 -c "import json;c=json.load(open('$TINY/training.json'));f=c['train_lines']+1;print(f'{f}:{f+c[\"heldout_lines\"]-1}')")
for spec in "$S 2 3001:4358" "$TINY 4 $EVT"; do
  for setting in "8192 0 original" "8192 1e-4 original" "8192 1e-2 original" \
                 "65536 0 original" "65536 1e-4 original" \
                 "65536 1e-4 propagated"; do
    set -- $spec $setting
    out=$WORK/p-{method}.st
    "$BUILD/tools/headroom-compress" --model "$1" --calib-text $T \
      --calib-lines 1:2000 --kv-heads "$2" \
      --method svd-a-qa+refit,rope-commuting+refit --refit-tokens "$4" \
      --refit-ridge "$5" --refit-inputs "$6" --out "$out" > /dev/null
    for m in svd-a-qa+refit rope-commuting+refit; do
      ppl=$("$BUILD/tools/headroom-eval" ppl --model "$1" --text $T \
              --lines "$3" --projections "${out/\{method\}/$m}" 2>/dev/null |
            tail -1 | python3 -c "import json,sys;print(json.load(sys.stdin)['perplexity'])")
      echo "$(basename "$1") g=$2 tokens=$4 ridge=$5 inputs=$6 $m $ppl"
    done
  done
done
rm -rf "$WORK"
