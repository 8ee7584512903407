#!/usr/bin/env bash
# The soft-label cache on full Fashion-MNIST with the committed demo teachers: a MEAL V2
# student with live teachers, three label files (full, top-k marginal smoothing, top-k
# marginal renorm), a student from each (same recipe, seed and epochs as the live one), then
# the epoch-time benchmark. The recipe draws random crops and flips, and each stored crop is
# replayed once (4 crops, 4 epochs). About 30 minutes on 2 cores.
#
#   bash scripts/labels-experiment.sh          # then: node scripts/labels-report.mjs
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
MEAL="node dist/src/cli/main.js"
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
RECIPE=recipes/labels-experiment.json
mkdir -p runs/labels
$MEAL distill --recipe $RECIPE --data "$DATA" --out runs/labels-live

cached() { # cached NAME FLAGS...: a label file, then a student distilled from it
  local name=$1; shift
  $MEAL labels --recipe $RECIPE --data "$DATA" --crops 4 "$@" --out runs/labels/fashion-m4-$name.labels
  $MEAL distill --recipe $RECIPE --data "$DATA" --labels runs/labels/fashion-m4-$name.labels \
    --out runs/student-meal-labels-$name
}
cached full --compression full --dtype float16
cached smoothing --compression topk --top-k 3 --rule marginal_smoothing --dtype float16
cached renorm --compression topk --top-k 3 --rule marginal_renorm --dtype float16
node dist/bench/labels.js --recipe $RECIPE --data "$DATA" --labels runs/labels/fashion-m4-full.labels --json \
  | tee runs/labels/bench.txt
