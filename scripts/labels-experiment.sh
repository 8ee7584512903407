#!/usr/bin/env bash
# The soft-label cache on full Fashion-MNIST with the committed demo teachers: three label
# files (full, top-k marginal smoothing, top-k marginal renorm), a MEAL V2 student from each
# (same recipe, seed and epochs as zoo/fashion-mnist/student-meal, which used live teachers),
# then the epoch-time benchmark. About 40 minutes on 2 cores.
#
#   bash scripts/labels-experiment.sh          # then: node scripts/labels-report.mjs
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
MEAL="node dist/src/cli/main.js"
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
RECIPE=recipes/student-meal.json
mkdir -p runs/labels

cached() { # cached NAME FLAGS...: a label file, then a student distilled from it
  local name=$1; shift
  $MEAL labels --recipe $RECIPE --data "$DATA" --crops 4 "$@" --out runs/labels/fashion-m4-$name.labels
  $MEAL distill --recipe $RECIPE --data "$DATA" --labels runs/labels/fashion-m4-$name.labels \
    --out runs/student-meal-labels-$name
}
cached full --compression full --dtype float16
cached smoothing --compression topk --top-k 3 --rule marginal_smoothing --dtype float16
cached renorm --compression topk --top-k 3 --rule marginal_renorm --dtype float16
node dist/bench/labels.js --data "$DATA" --labels runs/labels/fashion-m4-full.labels --json \
  | tee runs/labels/bench.txt
