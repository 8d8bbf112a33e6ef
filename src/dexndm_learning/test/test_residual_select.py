"""residual.select: the rule that keeps a residual and its strength from trial runs, and the
strength the artifact carries."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from dexndm_learning import joint_order as jo
from dexndm_learning.policy import contract
from dexndm_learning.policy.artifact import ArtifactError, PolicySpec, load_policy, save_policy
from dexndm_learning.policy.residual_mlp import ResidualMLP
from dexndm_learning.residual.select import Trial, choose, gain_in_standard_errors, trial_label, with_strength

DIM = contract.obs_dim() + jo.NUM_JOINTS


def residual_file(path: Path, strength: float = 1.0) -> Path:
    torch.manual_seed(0)
    save_policy(path, "residual", ResidualMLP(DIM, jo.NUM_JOINTS, 16, 1),
                PolicySpec(contract.HISTORY, np.zeros(DIM), np.ones(DIM), contract.ACTION_SCALE,
                           residual_bound=contract.RESIDUAL_CAP, strength=strength))
    return path


def trial(label, rotr, ttf):
    return Trial(label, None if label == "base" else Path(label), 0.0 if label == "base" else 1.0, rotr, ttf)


def test_the_best_rotation_wins_unless_it_drops_the_object_more_often_than_the_margin():
    base = trial("base", 20.0, 0.60)
    assert choose([base, trial("a", 25.0, 0.58), trial("b", 24.0, 0.60)], 0.03).label == "a"
    assert choose([base, trial("a", 25.0, 0.56), trial("b", 24.0, 0.60)], 0.03).label == "b"   # a drops 0.04
    assert choose([base, trial("a", 19.0, 0.70)], 0.03).label == "base"                         # none helps
    assert choose([base, trial("a", 20.0, 0.70)], 0.03).label == "base"                         # a tie: the base
    with pytest.raises(ValueError, match="base alone exactly once"):
        choose([trial("a", 1.0, 0.5)], 0.03)
    assert trial_label("joint", 0.5) == "joint x0.5"


def test_a_minimum_gain_in_standard_errors_keeps_the_base_when_the_trials_cannot_tell():
    # Session 19's profile 1 (four seeds): refined x0.5 51.1 +- 6.4 against the base's 49.1 +- 7.8.
    base = Trial("base", None, 0.0, 49.1, 0.62, rotr_std=7.8, seeds=4)
    close = Trial("refined x0.5", Path("r"), 0.5, 51.1, 0.58, rotr_std=6.4, seeds=4)
    far = Trial("joint x0.5", Path("j"), 0.5, 66.0, 0.60, rotr_std=6.0, seeds=4)
    se = ((7.8 ** 2 + 6.4 ** 2) / 3) ** 0.5                    # population stds over 4 seeds
    assert gain_in_standard_errors(close, base) == pytest.approx(2.0 / se)
    assert choose([base, close], 0.05).label == "refined x0.5"           # today's rule: any gain
    assert choose([base, close], 0.05, min_gain_se=1.0).label == "base"
    assert choose([base, close, far], 0.05, min_gain_se=1.0).label == "joint x0.5"
    # the TTF margin still applies to a candidate that clears the gain
    assert choose([base, dataclasses.replace(far, ttf=0.50)], 0.05, min_gain_se=1.0).label == "base"
    with pytest.raises(ValueError, match=">= 2 trial seeds"):
        choose([dataclasses.replace(base, seeds=1), close], 0.05, min_gain_se=1.0)
    exact = dataclasses.replace(base, rotr_std=0.0)
    assert gain_in_standard_errors(dataclasses.replace(close, rotr_std=0.0), exact) == float("inf")


def test_strength_scales_the_bounded_output_and_is_kept_in_the_file(tmp_path):
    full = load_policy(residual_file(tmp_path / "full.pt"))
    half = load_policy(with_strength(tmp_path / "full.pt", 0.5, tmp_path / "half.pt"))
    obs = np.random.default_rng(0).normal(size=(8, DIM)).astype(np.float32)
    assert full.spec.strength == 1.0 and half.spec.strength == 0.5
    np.testing.assert_allclose(half(obs), 0.5 * full(obs), rtol=1e-6)
    assert np.abs(full(obs)).max() > 1e-3                       # not trivially zero
    with pytest.raises(ArtifactError, match=r"bad\.pt: residual strength must be in \[0, 1\]"):
        load_policy(residual_file(tmp_path / "bad.pt", strength=1.5))
