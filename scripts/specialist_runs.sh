# Sourced by train_specialists.sh and learner_comparison.sh: the repository root as working folder,
# the optional leading "--minutes M" (into $MINUTES), a run folder restored from its committed copy
# on a fresh machine, and the evaluation of a run's wall-clock snapshots.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LEARN=${LEARN:-.venv/bin/dexndm-learn}
MINUTES=""
if [ "${1:-}" = "--minutes" ]; then MINUTES="--minutes $2"; shift 2; fi

# restore_run GROUP NAME: sets $run to runs/GROUP/NAME, copied from models/GROUP/NAME when missing.
restore_run() {
  run=runs/$1/$2
  if [ ! -d "$run" ] && [ -f "models/$1/$2/checkpoint.pt" ]; then
    mkdir -p "runs/$1" && cp -r "models/$1/$2" "$run"
  fi
}

# keep_final_eval RUN: before a resume, file the final evaluation (eval/) under the snapshot that
# is the same checkpoint (the one taken at the run's end), so eval_snapshots does not redo it; only
# an evaluation newer than the checkpoint (a run killed before its evaluation keeps an older one).
keep_final_eval() {
  local snap tag
  [ "$1/eval/metrics.json" -nt "$1/checkpoint.pt" ] || return 0
  for snap in "$1"/checkpoint_*min.pt; do
    [ -e "$snap" ] || continue
    tag=$(basename "$snap" .pt); tag=${tag#checkpoint_}
    if [ ! -e "$1/eval_$tag" ] && cmp -s "$snap" "$1/checkpoint.pt"; then cp -r "$1/eval" "$1/eval_$tag"; fi
  done
}

# eval_snapshots RUN [FINAL]: evaluate each checkpoint_<m>min.pt without an eval_<m>min/ yet (3 seeds
# x 128 episodes), skipping one identical to FINAL (the snapshot taken at the run's end).
eval_snapshots() {
  local snap tag
  for snap in "$1"/checkpoint_*min.pt; do
    [ -e "$snap" ] || continue
    [ -n "${2:-}" ] && cmp -s "$snap" "$2" && continue
    tag=$(basename "$snap" .pt); tag=${tag#checkpoint_}
    [ -f "$1/eval_$tag/metrics.json" ] && continue
    $LEARN eval-specialist --run "$1" --checkpoint "$(basename "$snap")" --num-envs 128 --out "$1/eval_$tag"
  done
}
