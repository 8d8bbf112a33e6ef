#!/usr/bin/env bash
# Issue 18's measurements of a built generalist, one after another (a rerun resumes: finished
# evaluations and cells are read back, not run again):
#  1. against every teacher of its recipe on the teacher's own conditions (versus-teachers);
#  2. the paper's Table 1 on the unseen test objects, 3 seeds x 64 envs per cell: +-x, +-y, +-z
#     with objects along each cell's rotation axis (the start the teachers trained from: upright
#     for z, along x for the x teachers) and GO Succ; general axes (no one axis line) with objects
#     upright. The six named wrists (128 start-grasp candidates per object and wrist) and random
#     wrists (24 per object, 32 candidates each: 128 would take ~30 min of grasps per axis line)
#     go to separate folders.
#   scripts/evaluate_generalist.sh runs/generalist_all/final/policy.pt docs/generalist_all [generalist_all]
set -euo pipefail
cd "$(dirname "$0")/.."
policy=${1:?policy file} out=${2:?output folder} recipe=${3:-generalist_all}
LEARN=".venv/bin/dexndm-learn"
$LEARN versus-teachers --config "$recipe" --policy "$policy" --out "$out/versus_teachers"
table1="eval-policy --policy $policy --object-set test --seeds 0 1 2 --num-envs 64"
for wrists in named random; do
  suffix="" extra=()
  if [ "$wrists" = random ]; then suffix=_random extra=(--grasp-candidates 32); fi
  $LEARN $table1 --wrists $wrists "${extra[@]}" --axes x y z --start-orientation rotation-axis \
    --out "$out/table1$suffix"
  $LEARN $table1 --wrists $wrists "${extra[@]}" --axes general --start-orientation upright --no-goal \
    --out "$out/table1_general$suffix"
done
