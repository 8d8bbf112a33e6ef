"""rsl_rl's ``VecEnv`` contract around the numpy ``RotationEnv``.

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
        self.device = "cpu"
        self.cfg = env.cfg
        self.episode_length_buf = torch.zeros(self.num_envs, dtype=torch.long)

    def as_tensordict(self, obs: dict[str, np.ndarray]) -> TensorDict:
        oracle = torch.from_numpy(obs["oracle"])
        return TensorDict({"policy": oracle, "critic": oracle, "proprio": torch.from_numpy(obs["proprio"])},
                          batch_size=[self.num_envs])

    def get_observations(self) -> TensorDict:
        return self.as_tensordict(self.env.observations())

    def step(self, actions: torch.Tensor):
        obs, reward, done, info = self.env.step(actions.detach().cpu().numpy())
        self.episode_length_buf = torch.from_numpy(self.env.episode_length.copy())
        terms = info["terms"]
        ok = ~info["unstable"]   # diverged steps earn nothing and would swamp the means
        log = {f"/reward/{k}": float(np.mean(getattr(terms, k)[ok])) if ok.any() else 0.0
               for k in terms.__dataclass_fields__}
        log["/task/unstable_rate"] = float(info["unstable"].mean())
        log["/reward/a_rotp"] = info["a_rotp"]
        log["/task/drop_rate"] = float(info["dropped"].mean())
        log["/task/omega_along_axis"] = float(np.mean(np.einsum("ni,ni->n", info["omega"], info["axis_hand"])))
        extras = {"time_outs": torch.from_numpy(info["time_out"]), "log": log}
        return self.as_tensordict(obs), torch.from_numpy(reward), torch.from_numpy(done), extras
