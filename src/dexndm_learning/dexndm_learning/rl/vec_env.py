"""rsl_rl's ``VecEnv`` contract around the ``RotationEnv`` (numpy, or torch tensors on the physics
device with ``env.arrays: torch``: then nothing is copied to the host here).

Observation groups: ``policy`` (the oracle's privileged observation, the actor's input),
``critic`` (the same privileged state; the critic may use more later) and ``proprio`` (the
generalist's deployable input, carried along so rollouts can be recorded for behaviour cloning).
"""
from __future__ import annotations

import numpy as np
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from dexndm_learning.sim.rotation_env import RotationEnv


class RslRlRotationEnv(VecEnv):
    def __init__(self, env: RotationEnv):
        self.env = env
        self.num_envs = env.num_envs
        self.num_actions = 16
        self.max_episode_length = env.cfg.episode_steps
        self.on_device = env.xp is not np
        self.device = str(env.state.device) if self.on_device else "cpu"
        self.cfg = env.cfg
        self.episode_length_buf = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)

    def _tensor(self, x) -> torch.Tensor:
        return x if self.on_device else torch.from_numpy(np.asarray(x))

    def as_tensordict(self, obs: dict) -> TensorDict:
        oracle = self._tensor(obs["oracle"])
        return TensorDict({"policy": oracle, "critic": oracle, "proprio": self._tensor(obs["proprio"])},
                          batch_size=[self.num_envs], device=self.device)

    def get_observations(self) -> TensorDict:
        return self.as_tensordict(self.env.observations())

    def step(self, actions: torch.Tensor):
        obs, reward, done, info = self.env.step(actions.detach() if self.on_device else actions.detach().cpu().numpy())
        self.episode_length_buf = self._tensor(self.env.episode_length).clone()   # after this step's resets
        terms = info["terms"]
        stable = self._tensor(~info["unstable"])        # diverged steps earn nothing and would swamp the means
        n_ok = stable.float().sum().clamp(min=1.0)
        # 0-d tensors, not floats: reading a value would wait for the device every step. A diverged
        # step's terms may be NaN, and NaN x 0 is NaN: they are left out by where, not by weight.
        log = {f"/reward/{k}": torch.where(stable, self._tensor(getattr(terms, k)), 0.0).sum() / n_ok
               for k in terms.__dataclass_fields__}
        log["/task/unstable_rate"] = 1.0 - stable.float().mean()
        log["/reward/a_rotp"] = info["a_rotp"]
        log["/task/drop_rate"] = self._tensor(info["dropped"]).float().mean()
        log["/task/omega_along_axis"] = (self._tensor(info["omega"]) * self._tensor(info["axis_hand"])).sum(1).mean()
        extras = {"time_outs": self._tensor(info["time_out"]), "log": log}
        return self.as_tensordict(obs), self._tensor(reward), self._tensor(done), extras
