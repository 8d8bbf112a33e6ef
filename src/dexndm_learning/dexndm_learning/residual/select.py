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
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from dexndm_learning.policy.artifact import load_policy, save_policy

BASE_ALONE = "base"


@dataclass(frozen=True)
class Trial:
    """One candidate's trial runs: ``residual`` None is the base alone."""
    label: str
    residual: Path | None
    strength: float
    rotr: float
    ttf: float


def choose(trials: list[Trial], ttf_margin: float) -> Trial:
    """The trial with the highest RotR among the base alone and the candidates whose TTF is at
    most ``ttf_margin`` below the base's; the base alone on ties."""
    base = [t for t in trials if t.residual is None]
    if len(base) != 1:
        raise ValueError(f"trials need the base alone exactly once, got {len(base)}")
    keep = [t for t in trials if t.residual is None or t.ttf >= base[0].ttf - ttf_margin]
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
