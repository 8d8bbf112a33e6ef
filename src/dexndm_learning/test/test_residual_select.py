"""residual.select: the rule that keeps a residual and its strength from trial runs, and the
strength the artifact carries."""
from pathlib import Path

import numpy as np
import pytest
import torch

from dexndm_learning import joint_order as jo
from dexndm_learning.policy import contract
from dexndm_learning.policy.artifact import ArtifactError, PolicySpec, load_policy, save_policy
from dexndm_learning.policy.residual_mlp import ResidualMLP
from dexndm_learning.residual.select import Trial, choose, trial_label, with_strength

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


def test_strength_scales_the_bounded_output_and_is_kept_in_the_file(tmp_path):
    full = load_policy(residual_file(tmp_path / "full.pt"))
    half = load_policy(with_strength(tmp_path / "full.pt", 0.5, tmp_path / "half.pt"))
    obs = np.random.default_rng(0).normal(size=(8, DIM)).astype(np.float32)
    assert full.spec.strength == 1.0 and half.spec.strength == 0.5
    np.testing.assert_allclose(half(obs), 0.5 * full(obs), rtol=1e-6)
    assert np.abs(full(obs)).max() > 1e-3                       # not trivially zero
    with pytest.raises(ArtifactError, match=r"bad\.pt: residual strength must be in \[0, 1\]"):
        load_policy(residual_file(tmp_path / "bad.pt", strength=1.5))
