"""Fixtures shared by the learning package's tests."""
from pathlib import Path

import numpy as np
import pytest
import torch

from dexndm_learning.policy import contract
from dexndm_learning.policy.artifact import PolicySpec, save_policy
from dexndm_learning.policy.residual_mlp import ResidualMLP


@pytest.fixture
def small_policy():
    """``small_policy(path, hand_version)``: a small random base policy on the generalist's
    observation, made for that hand; returns the path as a string."""
    def make(path: Path, hand_version: str) -> str:
        torch.manual_seed(0)
        dim = contract.obs_dim()
        save_policy(path, "base", ResidualMLP(dim, 16, width=16, blocks=1),
                    PolicySpec(contract.HISTORY, np.zeros(dim), np.ones(dim), contract.ACTION_SCALE,
                               hand_version=hand_version))
        return str(path)
    return make
