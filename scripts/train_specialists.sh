#!/usr/bin/env bash
# Issue 17's specialists, one after another: train each named config (config/specialists/<name>.yaml)
# to its budget, resuming where it stopped, then evaluate the final checkpoint and every wall-clock
# snapshot before it (3 seeds x 128 episodes, training conditions), plot its curves and probe its gait.
#   scripts/train_specialists.sh [--minutes M] cyl_palm_down_upright_minusz cyl_six_wrists_plusx ...
# Runs in runs/specialists/<name>/, started from the committed copy in models/specialists/<name>/
# when that folder is missing (a fresh machine). One job at a time: the caller queues the configs.
set -euo pipefail
cd "$(dirname "$0")/.."
LEARN=.venv/bin/dexndm-learn
MINUTES=""
if [ "${1:-}" = "--minutes" ]; then MINUTES="--minutes $2"; shift 2; fi
for name in "$@"; do
  run=runs/specialists/$name
  if [ ! -d "$run" ] && [ -f "models/specialists/$name/checkpoint.pt" ]; then
    mkdir -p runs/specialists && cp -r "models/specialists/$name" "$run"
  fi
  $LEARN train-specialist --config "$name" --run-dir "$run" --resume $MINUTES
  $LEARN eval-specialist --run "$run" --num-envs 128
  for snap in "$run"/checkpoint_*min.pt; do
    [ -e "$snap" ] || continue
    cmp -s "$snap" "$run/checkpoint.pt" && continue       # the snapshot at the end is the final checkpoint
    tag=$(basename "$snap" .pt); tag=${tag#checkpoint_}
    [ -f "$run/eval_$tag/metrics.json" ] && continue
    $LEARN eval-specialist --run "$run" --checkpoint "$(basename "$snap")" --num-envs 128 --out "$run/eval_$tag"
  done
  $LEARN plot-curves --run "$run"
  .venv/bin/python scripts/probe_gait.py --run "$run" > "$run/probe_gait.md"
done
