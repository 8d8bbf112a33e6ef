#!/usr/bin/env bash
# Copy finished (or interim) specialist runs into models/specialists/<name>/ for committing: the
# checkpoint, resolved config, curves, evaluations (final and per snapshot), commit, history, gait
# probe and progress log; not TensorBoard or snapshot checkpoints (too big). It publishes the run's
# last checkpoint: where an earlier snapshot evaluated better, copy that one by hand (as
# cyl_six_wrists_plusx keeps its 60-minute checkpoint beside a 90-minute run). The README.md there is
# kept (write or update it by hand: command, steps, wall time, evaluation, what limits it). Then
# docs/specialists/table.md is rewritten from every committed specialist.
#   scripts/publish_specialist.sh cuboid_palm_up_upright_plusz [more names]
source "$(dirname "$0")/specialist_runs.sh"
for name in "$@"; do
  src=runs/specialists/$name dst=models/specialists/$name
  [ -f "$src/checkpoint.pt" ] || { echo "publish_specialist: $src/checkpoint.pt does not exist" >&2; exit 2; }
  mkdir -p "$dst"
  for f in checkpoint.pt config.yaml curves.png git_commit.txt history.txt probe_gait.md progress.csv; do
    [ -f "$src/$f" ] && cp "$src/$f" "$dst/$f"
  done
  for d in "$src"/eval "$src"/eval_*min; do
    [ -d "$d" ] || continue
    rm -rf "$dst/$(basename "$d")" && cp -r "$d" "$dst/"
  done
  [ -f "$dst/README.md" ] || echo "publish_specialist: $dst/README.md is missing; write it before committing" >&2
done
$LEARN specialist-table
