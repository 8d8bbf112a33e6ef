"""UAN's compensator and ASAP's delta-action model as a ``RotationEnv.command_correction``: the
nominal sim made to act like the target world, for fine-tuning a policy in it (both baselines
then deploy the policy without the model)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dexndm_learning.baselines import asap, uan
from dexndm_learning.sim.hand_model import check_hand_version


class UanCorrection:
    """Keeps each env's last ``history`` + 1 (desired target, position) pairs; an env at the first
    step of an episode starts from its current pair repeated (the hand at rest)."""

    def __init__(self, model: uan.Compensator, cfg: uan.UanConfig):
        self.model, self.cfg = model, cfg
        self.desired = self.q = None

    def __call__(self, env) -> np.ndarray:
        q = env.state[:, 1 + env.qadr]
        h = self.cfg.history + 1
        if self.desired is None:
            self.desired, self.q = np.repeat(env.commanded[:, None], h, 1), np.repeat(q[:, None], h, 1)
        fresh = env.episode_length == 0
        self.desired = np.concatenate([self.desired[:, 1:], env.commanded[:, None]], axis=1)
        self.q = np.concatenate([self.q[:, 1:], q[:, None]], axis=1)
        self.desired[fresh] = env.commanded[fresh, None]
        self.q[fresh] = q[fresh, None]
        with torch.no_grad():
            x = torch.from_numpy(uan.features(self.desired, self.q, self.cfg.velocity_scale))
            return self.model(x).numpy().astype(float)


class AsapCorrection:
    """The delta-action model's inputs from the env: as ``asap.record`` builds them."""

    def __init__(self, model: asap.DeltaActionModel):
        self.model = model
        self.q_prev = None

    def __call__(self, env) -> np.ndarray:
        q = env.state[:, 1 + env.qadr]
        if self.q_prev is None:
            self.q_prev = q.copy()
        fresh = env.episode_length == 0
        self.q_prev[fresh] = q[fresh]
        x = asap.model_inputs(env, q, self.q_prev, env.sens, env.commanded)
        self.q_prev = q.copy()
        return asap.deltas(self.model, x)


def load_correction(path: str | Path, hand: str | None = None):
    """A saved UAN compensator or ASAP delta-action model as a correction callable; with ``hand``,
    one fitted on another hand version is refused."""
    blob = torch.load(path, weights_only=True)
    fmt = blob.get("format") if isinstance(blob, dict) else None
    if hand is not None and fmt in (uan.FORMAT, asap.FORMAT):
        check_hand_version(blob.get("hand_version"), hand, f"command model {path}")
    if fmt == uan.FORMAT:
        return UanCorrection(*uan.load(path))
    if fmt == asap.FORMAT:
        return AsapCorrection(asap.load(path))
    raise ValueError(f"{path}: neither a UAN compensator nor an ASAP delta-action model (format {fmt!r})")
