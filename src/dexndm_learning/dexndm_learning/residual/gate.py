"""A confidence gate for the residual: an ensemble of NDMs of the target world scales each joint's
residual down where its members disagree (issue 19).

The residual is trained to make the NDM's prediction match the simulated next state, so it is
only as good as the NDM on the histories it produces. Where those histories leave the Chaos Box
data (the residual pushed the commands somewhere the model never saw) the members of an ensemble
trained on the same data from different seeds disagree (deep ensembles, Lakshminarayanan et al.
2017; the same disagreement is the uncertainty penalty of model-based RL such as MOPO), and a
correction there is a guess. The gate turns the per-joint spread sigma (std over members of the
predicted next position) into a scale in [0, 1]::

    scale = clip(2 - sigma / sigma_ref, 0, 1)

full strength up to ``sigma_ref`` (a high quantile of the spread on the Chaos Box data itself, so
typical in-distribution histories keep the whole residual), none from twice that on.

The same gate runs in residual training (``residual.train``, ``gate`` in ``ResidualConfig``), in
the sim-to-sim evaluation (``residual.deploy.BaseResidualActor``) and in the policy node
(``PolicyRuntime``), each through ``GateHistory``: the last W (measured q, commanded target)
pairs, with the candidate command ``base + residual`` of this step as the last row.

The gate travels inside the residual's artifact (``policy.artifact``, entry ``gate``: ``format``,
the members' NDM payloads, ``sigma_ref`` (16, MJ order) and the ``quantile`` it was set at), so a
residual trained with a gate cannot be deployed without it.
"""
from __future__ import annotations


import numpy as np
import torch
from torch import nn

from dexndm_learning.joint_order import NUM_JOINTS
from dexndm_learning.ndm.models import NDM, model_from_payload, model_payload
from dexndm_learning.policy import contract

FORMAT = "dexndm-residual-gate-1"


class NdmEnsemble(nn.Module):
    """K NDMs of one world and window; ``forward`` is the mean prediction of the first
    ``predictors`` (default all; a drop-in NDM), the spread is over all K. ``predictors`` < K keeps
    the prediction to some models (DexNDM's joint-wise ones) and lets others, of another structure
    (a whole-hand NDM of the same data), only voice doubt."""

    def __init__(self, members: list[NDM], predictors: int | None = None):
        super().__init__()
        if not members:
            raise ValueError("an NDM ensemble needs at least one member")
        self.predictors = len(members) if predictors is None else int(predictors)
        if not 1 <= self.predictors <= len(members):
            raise ValueError(f"predictors must be in 1..{len(members)}, got {predictors}")
        windows = {m.config.window for m in members}
        if len(windows) != 1:
            raise ValueError(f"ensemble members have different windows {sorted(windows)}")
        self.members = nn.ModuleList(members)
        self.config = members[0].config

    def all(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W, 16, 2) -> (K, B, 16) every member's predicted next q."""
        return torch.stack([m(x) for m in self.members])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean_and_spread(x)[0]

    def mean_and_spread(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 16) prediction (mean of the predictors) and spread (std over all members; zero for one)."""
        p = self.all(x)
        return p[:self.predictors].mean(0), p.std(0, unbiased=False)


def scale_from_spread(spread: torch.Tensor | np.ndarray, sigma_ref) -> torch.Tensor | np.ndarray:
    """Per-joint residual scale: 1 up to ``sigma_ref``, 0 from ``2 sigma_ref`` on."""
    s = 2.0 - spread / sigma_ref
    return s.clamp(0.0, 1.0) if isinstance(s, torch.Tensor) else np.clip(s, 0.0, 1.0)


@torch.no_grad()
def calibrate(ensemble: NdmEnsemble, windows: np.ndarray, quantile: float = 0.95, chunk: int = 65536) -> np.ndarray:
    """``sigma_ref`` (16,): the ``quantile`` of each joint's spread over ``windows`` (N, W, 16, 2),
    histories from the data the members were fit on."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    if len(windows) == 0:
        raise ValueError("no windows to calibrate the gate on")
    spreads = [ensemble.mean_and_spread(torch.as_tensor(windows[i:i + chunk], dtype=torch.float32))[1]
               for i in range(0, len(windows), chunk)]
    ref = torch.quantile(torch.cat(spreads).double(), quantile, dim=0).numpy()
    return np.maximum(ref, 1e-6)        # a joint the members agree on exactly must not divide by zero


class ResidualGate:
    """The ensemble and its reference spread; ``scale(windows)`` -> (N, 16) in [0, 1]."""

    def __init__(self, ensemble: NdmEnsemble, sigma_ref: np.ndarray, quantile: float):
        sigma_ref = np.asarray(sigma_ref, dtype=np.float64)
        if sigma_ref.shape != (NUM_JOINTS,) or not np.all(np.isfinite(sigma_ref)) or np.any(sigma_ref <= 0):
            raise ValueError(f"sigma_ref must be {NUM_JOINTS} positive numbers, got {sigma_ref}")
        self.ensemble = ensemble.eval().requires_grad_(False)
        self.sigma_ref, self.quantile = sigma_ref, float(quantile)
        self.window = ensemble.config.window
        self._ref = torch.as_tensor(sigma_ref, dtype=torch.float32)

    @torch.no_grad()
    def scale(self, windows: torch.Tensor) -> torch.Tensor:
        """(N, W, 16, 2) histories (candidate command last) -> (N, 16) residual scales."""
        return scale_from_spread(self.ensemble.mean_and_spread(windows)[1], self._ref)

    def payload(self) -> dict:
        return {"format": FORMAT, "members": [model_payload(m) for m in self.ensemble.members],
                "predictors": self.ensemble.predictors,
                "sigma_ref": torch.as_tensor(self.sigma_ref), "quantile": self.quantile}


def gate_from_payload(payload: dict, what) -> ResidualGate:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{what}: its residual gate is not a {FORMAT} entry")
    ensemble = NdmEnsemble([model_from_payload(p) for p in payload["members"]], payload.get("predictors"))
    return ResidualGate(ensemble, payload["sigma_ref"].numpy(), payload["quantile"])


class GateHistory:
    """The last W (measured q, commanded target) pairs of N hands, and the gated residual of this
    step: ``apply(q, base, residual)`` puts (q, base + residual) as the last row, scales the
    residual by the gate, records the command actually sent and returns (scaled residual, scale)."""

    def __init__(self, gate: ResidualGate, n: int):
        self.gate = gate
        self.buf = np.zeros((n, gate.window, NUM_JOINTS, 2))

    def reset(self, ids, q: np.ndarray, command: np.ndarray) -> None:
        """Start the history of hands ``ids`` as held still: every row (q, the target in force)."""
        self.buf[ids, :, :, 0] = np.asarray(q)[:, None] if np.ndim(q) == 2 else q
        self.buf[ids, :, :, 1] = np.asarray(command)[:, None] if np.ndim(command) == 2 else command

    def set_last_command(self, command: np.ndarray) -> None:
        """The command finally sent this step, where a later safety stage changed it."""
        self.buf[:, -1, :, 1] = command

    def apply(self, q: np.ndarray, base: np.ndarray, residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = self.buf
        b[:, :-1] = b[:, 1:]
        b[:, -1, :, 0] = q
        b[:, -1, :, 1] = contract.commanded_target(base, residual)
        scale = self.gate.scale(torch.as_tensor(b, dtype=torch.float32)).numpy().astype(float)
        gated = scale * residual
        b[:, -1, :, 1] = contract.commanded_target(base, gated)
        return gated, scale
