"""The residual and its strength chosen for a target by trial runs there (issue 19).

A residual trained through the target-world NDM is only as good as the model where the residual
takes the hand: on some random profiles the NDM promised half of the gap closed and the target
delivered nothing (model exploitation, docs/results.md), and on others the first residual earned
gains a refined or gated one gave up. Which one is right shows only in the target. So the last
step is an A/B test there, as one would run on a real hand before leaving a controller on it:
the base alone and each candidate residual at each strength (a factor on its bounded output,
kept in the artifact as ``strength``) run a few trial episodes in the target on the training
objects, with seeds apart from the evaluation's, and the candidate with the highest RotR whose
TTF is at most ``ttf_margin`` below the base's is kept; the base alone wins ties.

A trial's RotR spreads over seeds by as much as the gaps it ranks (3-8 RotR over four seeds,
docs/results.md issue 19), so with ``min_gain_se`` > 0 a candidate must also beat the base by that
many standard errors of the difference of the two means (the incumbent is kept unless the trials
show a gain larger than their own noise).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from dexndm_learning.policy.artifact import load_policy, save_policy

BASE_ALONE = "base"


@dataclass(frozen=True)
class Trial:
    """One candidate's trial runs: ``residual`` None is the base alone; ``rotr`` is the mean over
    ``seeds`` seeds and ``rotr_std`` their spread (population std, as ``metrics.mean_std``)."""
    label: str
    residual: Path | None
    strength: float
    rotr: float
    ttf: float
    rotr_std: float = 0.0
    seeds: int = 1


def gain_in_standard_errors(trial: Trial, base: Trial) -> float:
    """(trial - base) mean RotR over the standard error of that difference (seeds >= 2 each)."""
    if min(trial.seeds, base.seeds) < 2:
        raise ValueError(f"a gain in standard errors needs >= 2 trial seeds, got {trial.seeds} and {base.seeds}")
    se = math.sqrt(trial.rotr_std ** 2 / (trial.seeds - 1) + base.rotr_std ** 2 / (base.seeds - 1))
    gain = trial.rotr - base.rotr
    if se == 0:
        return math.copysign(math.inf, gain) if gain else 0.0
    return gain / se


def choose(trials: list[Trial], ttf_margin: float, min_gain_se: float = 0.0) -> Trial:
    """The trial with the highest RotR among the base alone and the candidates whose TTF is at
    most ``ttf_margin`` below the base's and, with ``min_gain_se`` > 0, whose RotR beats the base's
    by more than ``min_gain_se`` standard errors; the base alone on ties."""
    base = [t for t in trials if t.residual is None]
    if len(base) != 1:
        raise ValueError(f"trials need the base alone exactly once, got {len(base)}")
    keep = [t for t in trials if t.residual is None or (
        t.ttf >= base[0].ttf - ttf_margin and (min_gain_se <= 0 or gain_in_standard_errors(t, base[0]) > min_gain_se))]
    return max(keep, key=lambda t: (t.rotr, t.residual is None))


def with_strength(residual: Path, strength: float, out: Path) -> Path:
    """``residual``'s artifact (gate included) with ``strength`` as its output factor, at ``out``."""
    policy = load_policy(residual)
    if policy.kind != "residual":
        raise ValueError(f"{residual}: expected a residual policy, got a '{policy.kind}' one")
    save_policy(out, "residual", policy.net, dataclasses.replace(policy.spec, strength=float(strength)), policy.gate)
    return out


def trial_label(kind: str, strength: float) -> str:
    return f"{kind} x{strength:g}"
