"""Policy artifacts for tests and benchmarks: random weights, or a constant output, on the
generalist's observation (``contract``), made for a named hand or, by default, the configured one
(``config/hand.yaml``'s version: the one the nodes and environments load)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dexndm_learning import joint_order
from dexndm_learning.policy import contract
from dexndm_learning.policy.artifact import PolicySpec, save_policy
from dexndm_learning.policy.residual_mlp import ResidualMLP
from dexndm_learning.sim.hand_model import HandConfig


def _save(path, kind: str, net: ResidualMLP, hand_version: str | None) -> Path:
    dim = net.arch["in_dim"]
    spec = PolicySpec(history=contract.HISTORY, obs_mean=np.zeros(dim), obs_std=np.ones(dim),
                      action_scale=contract.ACTION_SCALE,
                      residual_bound=contract.RESIDUAL_CAP if kind == "residual" else None,
                      hand_version=hand_version or HandConfig.load().version)
    save_policy(path, kind, net, spec)
    return Path(path)


def _net(kind: str, width: int, blocks: int) -> ResidualMLP:
    in_dim = contract.obs_dim() + (joint_order.NUM_JOINTS if kind == "residual" else 0)
    return ResidualMLP(in_dim, joint_order.NUM_JOINTS, width=width, blocks=blocks)


def random_policy(path, kind: str, width: int = 64, blocks: int = 2, seed: int = 0,
                  hand_version: str | None = None) -> Path:
    torch.manual_seed(seed)
    return _save(path, kind, _net(kind, width, blocks), hand_version)


def constant_policy(path, kind: str, value, hand_version: str | None = None) -> Path:
    """A policy whose output (before the artifact's clamp or tanh bound) is always ``value``
    (a number or 16 numbers; NaN works)."""
    net = _net(kind, width=8, blocks=1)
    with torch.no_grad():
        for prm in net.parameters():
            prm.zero_()
        net.out.bias[:] = torch.as_tensor(np.broadcast_to(value, joint_order.NUM_JOINTS).astype(np.float32))
    return _save(path, kind, net, hand_version)
