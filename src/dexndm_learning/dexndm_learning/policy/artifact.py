"""Self-contained policy artifacts: weights + everything needed to build the input and use the
output, so the runtime loads a policy with no training code.

One ``.pt`` file (``torch.save`` of a plain dict, loaded with ``weights_only=True``):

- ``format``: ``"dexndm-policy-v1"``; ``kind``: ``"base"`` (the generalist) or ``"residual"``;
- ``arch``: ResidualMLP constructor arguments; ``state_dict``: its weights;
- ``spec`` (the values of ``policy.contract`` it was trained with): ``history``, ``joint_names``
  (our order, checked at load), ``obs_mean`` / ``obs_std`` (input normalization), ``action_scale``
  (target += scale x action), ``control_dt`` (files without it: the contract's),
  ``action_clip`` (1.0), ``hand_version`` (the simulated hand it was made on; files without it
  were made on ``v1``), and for residuals ``residual_bound`` (the tanh output bound, rad) and
  ``strength`` (a factor in [0, 1] on the bounded output, chosen for a target by trial runs there,
  ``residual.select``; files without it: 1).

Inputs: the observation of ``policy.contract``; a residual policy takes the same observation
followed by the base policy's target for this step (16).

A residual may carry ``gate`` (``residual.gate``): the NDM ensemble that scales its output down
where the target-world model is unsure; every runtime that loads the file applies it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dexndm_learning import joint_order
from dexndm_learning.policy.contract import CONTROL_DT
from dexndm_learning.policy.residual_mlp import ResidualMLP
from dexndm_learning.sim.hand_model import check_hand_version

FORMAT = "dexndm-policy-v1"


class ArtifactError(ValueError):
    """A policy file that cannot be used (wrong format, joints or shapes)."""


@dataclass
class PolicySpec:
    history: int
    obs_mean: np.ndarray
    obs_std: np.ndarray
    action_scale: float
    action_clip: float = 1.0
    residual_bound: float | None = None
    hand_version: str = "v1"     # the hand the training data was simulated on (sim.hand_model)
    control_dt: float = CONTROL_DT   # s between ticks the policy was trained at
    strength: float = 1.0            # residuals: factor on the bounded output (residual.select)


class DeployablePolicy:
    """numpy in, numpy out; float32; no gradients."""

    def __init__(self, kind: str, net: ResidualMLP, spec: PolicySpec, gate=None):
        self.kind = kind
        self.net = net.eval()
        self.spec = spec
        self.gate = gate        # residual.gate.ResidualGate or None
        self._mean = torch.as_tensor(spec.obs_mean, dtype=torch.float32)
        self._std = torch.as_tensor(spec.obs_std, dtype=torch.float32)
        if not 0.0 <= spec.strength <= 1.0:
            raise ArtifactError(f"residual strength must be in [0, 1], got {spec.strength}")

    def check_rate(self, rate_hz: float, what) -> None:
        """Refuse to tick at another rate than the one this policy was trained at (1 % tolerance)."""
        if abs(rate_hz * self.spec.control_dt - 1.0) > 0.01:
            raise ArtifactError(f"policy {what} was trained at {1 / self.spec.control_dt:g} Hz "
                                f"(control period {self.spec.control_dt:g} s), but is asked to run at {rate_hz:g} Hz")

    def check_hand(self, version: str, what) -> None:
        """Refuse to drive a hand of another version than the one this policy was made on."""
        check_hand_version(self.spec.hand_version, version, f"policy {what}")

    @property
    def obs_dim(self) -> int:
        return self.net.arch["in_dim"]

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        with torch.inference_mode():
            y = self.net((x - self._mean) / self._std)
            if self.spec.residual_bound is not None:
                y = self.spec.strength * self.spec.residual_bound * torch.tanh(y)
            else:
                y = y.clamp(-self.spec.action_clip, self.spec.action_clip)
        return y.numpy()


def save_policy(path: str | Path, kind: str, net: ResidualMLP, spec: PolicySpec, gate=None) -> None:
    """``gate``: a ``residual.gate.ResidualGate`` (residuals only) stored with the weights."""
    if kind not in ("base", "residual"):
        raise ValueError(f"kind must be 'base' or 'residual', got {kind!r}")
    if gate is not None and kind != "residual":
        raise ValueError("only a residual policy carries a gate")
    blob = {
        "format": FORMAT,
        "kind": kind,
        "arch": dict(net.arch),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "spec": {
            "history": spec.history,
            "joint_names": list(joint_order.JOINT_NAMES),
            "obs_mean": torch.as_tensor(spec.obs_mean, dtype=torch.float32),
            "obs_std": torch.as_tensor(spec.obs_std, dtype=torch.float32),
            "action_scale": float(spec.action_scale),
            "action_clip": float(spec.action_clip),
            "residual_bound": None if spec.residual_bound is None else float(spec.residual_bound),
            "hand_version": spec.hand_version,
            "control_dt": float(spec.control_dt),
            "strength": float(spec.strength),
        },
    }
    if gate is not None:
        blob["gate"] = gate.payload()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def load_policy(path: str | Path) -> DeployablePolicy:
    path = Path(path)
    try:
        blob = torch.load(path, weights_only=True)
    except Exception as exc:
        raise ArtifactError(f"{path}: not a readable policy file: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not a {FORMAT} file")
    spec = blob["spec"]
    if list(spec["joint_names"]) != list(joint_order.JOINT_NAMES):
        raise ArtifactError(f"{path}: joint order {spec['joint_names']} differs from ours {joint_order.JOINT_NAMES}")
    net = ResidualMLP(**blob["arch"])
    net.load_state_dict(blob["state_dict"])
    gate = None
    if blob.get("gate") is not None:
        from dexndm_learning.residual.gate import gate_from_payload     # residual imports this module

        try:
            gate = gate_from_payload(blob["gate"], path)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise ArtifactError(f"{path}: unusable residual gate: {exc}") from exc
    try:
        return _deployable(blob, spec, net, gate)
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: {exc}") from exc


def _deployable(blob: dict, spec: dict, net: ResidualMLP, gate) -> DeployablePolicy:
    return DeployablePolicy(blob["kind"], net, PolicySpec(
        history=int(spec["history"]), obs_mean=spec["obs_mean"].numpy(), obs_std=spec["obs_std"].numpy(),
        action_scale=float(spec["action_scale"]), action_clip=float(spec["action_clip"]),
        residual_bound=spec["residual_bound"], hand_version=spec.get("hand_version") or "v1",
        control_dt=float(spec.get("control_dt", CONTROL_DT)), strength=float(spec.get("strength", 1.0))), gate)
