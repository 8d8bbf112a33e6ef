#!/usr/bin/env bash
# Issue 17's specialists, one after another: train each named config (config/specialists/<name>.yaml)
# to its budget, resuming where it stopped, then evaluate the final checkpoint and every wall-clock
# snapshot before it (3 seeds x 128 episodes, training conditions), plot its curves and probe its gait.
#   scripts/train_specialists.sh [--minutes M] cyl_palm_down_upright_minusz cyl_six_wrists_plusx ...
# Runs in runs/specialists/<name>/, started from the committed copy in models/specialists/<name>/
# when that folder is missing (a fresh machine). One job at a time: the caller queues the configs.
source "$(dirname "$0")/specialist_runs.sh"
for name in "$@"; do
  restore_run specialists "$name"
  keep_final_eval "$run"
  $LEARN train-specialist --config "$name" --run-dir "$run" --resume $MINUTES
  $LEARN eval-specialist --run "$run" --num-envs 128
  eval_snapshots "$run" "$run/checkpoint.pt"
  $LEARN plot-curves --run "$run"
  .venv/bin/python scripts/probe_gait.py --run "$run" > "$run/probe_gait.md"
done
