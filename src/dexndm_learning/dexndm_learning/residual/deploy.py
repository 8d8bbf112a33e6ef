"""Base + residual policy in ``RotationEnv``, without ROS (method.md section 9).

At step t the base policy maps the proprioceptive observation o_t to an action; the env turns it
into the base target ``a_t = clip(a_{t-1} + action / 24)``. The residual maps (o_t, a_t) to a
bounded offset and the world receives ``clip(a_t + a_res_t)``. The env's own target and hence
the observed target history stay the base targets, which is what the base policy was trained on
and what the residual was trained to see.

The residual reaches the world through ``RotationEnv.target_offset``, which is added to the
command only on the world's side. A residual that carries a gate (``residual.gate``) is scaled by
it per env and joint, from each env's last W (observed q, commanded target) pairs; the scales of
the last step are in ``actor.scale``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.policy import contract
from dexndm_learning.policy.artifact import DeployablePolicy, load_policy
from dexndm_learning.residual.gate import GateHistory
from dexndm_learning.sim.rotation_env import RotationEnv


def bounded_residual(policy: DeployablePolicy, obs: np.ndarray, base_target: np.ndarray) -> np.ndarray:
    """The residual for (obs, base target), finite and within the contract's cap for any input (a
    non-finite network output, possible only for absurd inputs, gives no correction); the env
    composes it with the base target by ``contract.commanded_target``."""
    cap = contract.RESIDUAL_CAP
    res = policy(np.concatenate([obs, base_target], axis=-1))
    return np.clip(np.nan_to_num(res, nan=0.0, posinf=cap, neginf=-cap), -cap, cap)


def _policy(p: DeployablePolicy | str | Path, kind: str) -> DeployablePolicy:
    policy = p if isinstance(p, DeployablePolicy) else load_policy(p)
    if policy.kind != kind:
        raise ValueError(f"expected a '{kind}' policy, got a '{policy.kind}' one")
    return policy


class BaseResidualActor:
    """``act(obs) -> base actions`` for ``rl.evaluate.run_episodes``; with a residual it also
    sets this step's world-side target offset on ``env``."""

    def __init__(self, env: RotationEnv, base: DeployablePolicy | str | Path,
                 residual: DeployablePolicy | str | Path | None = None):
        self.env = env
        self.base = _policy(base, "base")
        self.residual = None if residual is None else _policy(residual, "residual")
        for name, policy in (("base", self.base), ("residual", self.residual)):
            if policy is not None:
                policy.check_hand(env.hand_cfg.version, base if name == "base" else residual)
        if self.residual is not None:
            contract.check_residual_bound(self.residual.spec.residual_bound, str(residual))
            if self.residual.obs_dim != self.base.obs_dim + joint_order.NUM_JOINTS:
                raise ValueError(f"{residual}: residual wants {self.residual.obs_dim} inputs; need base obs + 16 "
                                 f"({self.base.obs_dim + joint_order.NUM_JOINTS})")
        gate = None if self.residual is None else self.residual.gate
        self.gate_history = None if gate is None else GateHistory(gate, env.num_envs)
        self.scale = np.ones((env.num_envs, joint_order.NUM_JOINTS))

    def __call__(self, obs: dict) -> np.ndarray:
        o = obs["proprio"]
        action = self.base(o)
        if self.residual is not None:
            step = np.nan_to_num(action, nan=0.0)                         # as RotationEnv.step applies it
            base_target = contract.base_target(self.env.targets, step, self.env.cfg.action_scale)
            res = bounded_residual(self.residual, o, base_target)
            if self.gate_history is not None:
                started = np.flatnonzero(self.env.episode_length == 0)      # first step of an episode
                if len(started):
                    self.gate_history.reset(started, self.env.q_hist[started, -1], self.env.targets[started])
                res, self.scale = self.gate_history.apply(self.env.q_hist[:, -1], base_target, res)
            self.env.target_offset[:] = res
        return action
