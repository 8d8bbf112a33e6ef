#!/usr/bin/env bash
# Issue 25's learner comparison: train each named variant (config/specialists/learner/<name>.yaml)
# to MINUTES on the steal-corrected clock (resuming where it stopped), then evaluate every
# wall-clock snapshot it has (3 seeds x 128 episodes, training conditions) and plot its curves.
#   scripts/learner_comparison.sh [--minutes 30] ppo ppo_cheap ...
# Runs in runs/learner/<name>/, started from the committed copy in models/learner/<name>/ when that
# folder is missing (a fresh machine); one job at a time (the caller queues the variants).
source "$(dirname "$0")/specialist_runs.sh"
for name in "$@"; do
  restore_run learner "$name"
  $LEARN train-specialist --config "learner/$name" --run-dir "$run" --resume $MINUTES
  eval_snapshots "$run"
  $LEARN plot-curves --run "$run"
done
