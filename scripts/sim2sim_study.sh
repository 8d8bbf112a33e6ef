#!/usr/bin/env bash
# The sim-to-sim study of issue 6, end to end, one run after the other (each ~17-20 min on two
# cores with the small preset; rerunning continues unfinished runs). Results: docs/results.md.
#   shipped gap profiles: worn_hand, paper_sysid
#   ablations in worn_hand: Chaos Box noise sigma 0 / 0.005 / 0.02 (0.01 is the main run) and
#   free-hand data (no balls) instead of the Chaos Box.
# Options after OUT go to every run: the base's wrists, axes and start, e.g.
#   scripts/sim2sim_study.sh docs/sim2sim_v2_z --wrists palm_up palm_down --axis-set z --start-orientation upright
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
out=${1:-docs/sim2sim}
shift || true
common=("$@")
run() { local name=$1; shift; echo "== $name: dexndm sim2sim $* ${common[*]}"
        dexndm sim2sim --preset small --out "$out/$name" "$@" "${common[@]}"; }
run worn_hand          --profile worn_hand
run paper_sysid        --profile paper_sysid
run worn_hand_sigma0     --profile worn_hand --noise-sigma 0
run worn_hand_sigma0.005 --profile worn_hand --noise-sigma 0.005
run worn_hand_sigma0.02  --profile worn_hand --noise-sigma 0.02
run worn_hand_free_hand  --profile worn_hand --scene hand
python -m dexndm_learning.residual.sim2sim compare "$out"/{worn_hand,paper_sysid,worn_hand_sigma0,worn_hand_sigma0.005,worn_hand_sigma0.02,worn_hand_free_hand}
