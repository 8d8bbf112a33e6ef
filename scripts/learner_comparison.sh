#!/usr/bin/env bash
# Issue 25's learner comparison: train each named variant (config/specialists/learner/<name>.yaml)
# to MINUTES on the steal-corrected clock (resuming where it stopped), then evaluate every
# wall-clock snapshot it has (3 seeds x 128 episodes, training conditions) and plot its curves.
#   scripts/learner_comparison.sh [--minutes 30] ppo ppo_cheap ...
# Runs in runs/learner/<name>/, started from the committed copy in models/learner/<name>/ when that
# folder is missing (a fresh machine); one job at a time (the caller queues the variants).
set -euo pipefail
cd "$(dirname "$0")/.."
LEARN=.venv/bin/dexndm-learn
MINUTES=""
if [ "${1:-}" = "--minutes" ]; then MINUTES="--minutes $2"; shift 2; fi
for name in "$@"; do
  run=runs/learner/$name
  if [ ! -d "$run" ] && [ -f "models/learner/$name/checkpoint.pt" ]; then
    mkdir -p runs/learner && cp -r "models/learner/$name" "$run"
  fi
  $LEARN train-specialist --config "learner/$name" --run-dir "$run" --resume $MINUTES
  for snap in "$run"/checkpoint_*min.pt; do
    [ -e "$snap" ] || continue
    tag=$(basename "$snap" .pt); tag=${tag#checkpoint_}
    [ -f "$run/eval_$tag/metrics.json" ] && continue
    $LEARN eval-specialist --run "$run" --checkpoint "$(basename "$snap")" --num-envs 128 --out "$run/eval_$tag"
  done
  $LEARN plot-curves --run "$run"
done
