#!/usr/bin/env bash
# The committed generalist (models/generalist/base.pt), end to end (about 70 min on two cores):
#   1. successful episodes of specialists (a) and (b), plus a +z top-up of (a), whose +z episodes
#      rarely survive 400 steps (the paper's behaviour-cloning data);
#   2. behaviour cloning on them (balanced per specialist and axis);
#   3. DAGGER_ROUNDS (5) rounds of DAgger: the previous policy acts, the specialists label, and
#      cloning continues from the previous policy on everything collected so far (12 epochs in
#      rounds 1-3, 20 after);
#   4. 30 more epochs at learning rate 1e-4 on all of it (the committed base.pt).
# Usage: scripts/train_generalist.sh [DATA_DIR] [RUN_DIR]. Rerunning skips finished steps.
# Then: dexndm-learn eval-specialist --run models/specialists/<name> --policy RUN_DIR/final/policy.pt
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
data=${1:-data/rollouts/generalist}
runs=${2:-runs/generalist}
rounds=${DAGGER_ROUNDS:-5}
a=models/specialists/cyl_palm_up
b=models/specialists/cyl_palm_down

collect() {  # collect NAME ARGS...: skipped when the dataset is complete
    local name=$1; shift
    [ -f "$data/$name.done" ] && return 0
    dexndm-learn collect-rollouts --out "$data/$name" --num-envs 256 --resume "$@"
    touch "$data/$name.done"
}
clone() {  # clone NAME ARGS...: skipped when the run has its policy
    local name=$1; shift
    [ -f "$runs/$name/bc_result.json" ] && return 0
    dexndm-learn train-generalist --out "$runs/$name" --samples-per-epoch 100000 "$@"
}

mkdir -p "$data" "$runs"
collect cyl_palm_up       --run $a --episodes 1500 --seed 10
collect cyl_palm_up_plusz --run $a --episodes 150 --seed 11 --axis-set=+z
collect cyl_palm_down     --run $b --episodes 1000 --seed 10
sets=("$data/cyl_palm_up" "$data/cyl_palm_up_plusz" "$data/cyl_palm_down")
clone bc --data "${sets[@]}" --width 512 --blocks 5 --epochs 30
prev=bc
for r in $(seq 1 "$rounds"); do
    collect dagger${r}_cyl_palm_up   --run $a --student "$runs/$prev/policy.pt" --episodes 768 --seed 2$r
    collect dagger${r}_cyl_palm_down --run $b --student "$runs/$prev/policy.pt" --episodes 768 --seed 2$r
    sets+=("$data/dagger${r}_cyl_palm_up" "$data/dagger${r}_cyl_palm_down")
    clone dagger$r --data "${sets[@]}" --init "$runs/$prev/policy.pt" --epochs $(( r <= 3 ? 12 : 20 ))
    prev=dagger$r
done
clone final --data "${sets[@]}" --init "$runs/$prev/policy.pt" --epochs 30 --lr 0.0001
echo "generalist: $runs/final/policy.pt"
