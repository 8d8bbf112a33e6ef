"""Neural dynamics models: next joint positions from a history of (position, target) pairs.

Input: ``x`` of shape (B, W, 16, 2) in MJ joint order, ``x[..., 0]`` the measured positions q
and ``x[..., 1]`` the commanded position targets a of the last W control steps (the last row
is the current step). Output: the predicted q of the next step, (B, 16), in radians.

Three models share this interface and differ only in which joints a network sees:

- ``JointWiseNDM`` (the paper's model): 16 independent MLPs, joint i from its own history only;
- ``FingerWiseNDM``: 4 MLPs, each finger's 4 joints from those 4 joints' histories;
- ``WholeHandNDM``: one MLP, all 16 joints from the whole hand's history.

All are one ``GroupedMLP``: G networks with stacked weights (G, in, out) evaluated together
with ``torch.baddbmm`` (one batched matmul per layer, no Python loop over joints), ReLU hidden
layers.

Prediction target: the normalized change ``(q_{t+1} - q_t - mean) / std`` per joint, and the
prediction is ``q_t + mean + std * net(...)``. Position-controlled joints move little in 50 ms,
so q_{t+1} is mostly q_t: an absolute target would make the net spend its capacity and its
precision on reproducing q_t (range ~2 rad) to reach errors of ~3 mrad (the paper's MSE ~1e-5
rad^2). The delta has a scale of a few hundredths of a radian, and per-joint normalization gives
every joint equal weight in the loss (slow wrist-side joints and fast fingertips alike).

Input normalization: per joint, the features are the history *relative to the current
position* -- ``q_{t-k} - q_t`` (k = 1..W-1) and ``a_{t-k} - q_t`` (k = 0..W-1) -- plus the
current absolute position q_t, 2W features per joint; each standardized with per-joint,
per-feature mean and std (buffers, fitted on the training split, saved with the weights). A
position-controlled joint's motion depends mainly on the tracking error ``a - q`` and the recent
motion, both translation invariant, so relative features make the same motion look the same
anywhere in the range; q_t stays as one feature because gravity, joint limits and contacts
depend on where the joint is. Stds are floored (1e-3 rad for features, 1e-4 rad for the delta)
so a joint that never moved in the data does not blow up. Fine-tuning keeps the pretrained
statistics, since the weights were trained against them.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dexndm_learning.joint_order import FINGERS, NUM_JOINTS
from dexndm_learning.training_state import save_atomic

FORMAT = "dexndm-ndm-1"
FEATURE_STD_FLOOR = 1e-3
DELTA_STD_FLOOR = 1e-4


@dataclass
class ModelConfig:
    """Architecture (``model:`` in ``config/ndm.yaml``)."""

    kind: str = "joint"     # joint | finger | whole
    window: int = 10        # W history steps (0.5 s at 20 Hz)
    width: int = 256        # hidden units per layer (of each network)
    depth: int = 2          # hidden layers


def features(x: torch.Tensor) -> torch.Tensor:
    """(B, W, 16, 2) history -> (B, 16, 2W) per-joint features (see the module docstring)."""
    q, a = x[..., 0], x[..., 1]
    q_now = q[:, -1:]                                           # (B, 1, 16)
    f = torch.cat([q[:, :-1] - q_now, a - q_now, q_now], dim=1)  # (B, 2W, 16)
    return f.transpose(1, 2)


class GroupedMLP(nn.Module):
    """G independent MLPs with stacked weights: (G, B, in) -> (G, B, out).

    Hidden layers use ReLU applied in place: with 16 networks the activations are large
    (G x B x width) and elementwise passes over them cost as much as the small matmuls; an
    in-place ReLU made a CPU training step about 20 % faster than SiLU or ELU (measured).
    """

    def __init__(self, groups: int, in_dim: int, out_dim: int, width: int, depth: int):
        super().__init__()
        dims = [in_dim] + [width] * depth + [out_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(dims[:-1], dims[1:]):
            bound = 1.0 / math.sqrt(fan_in)       # nn.Linear's default initialization, per group
            self.weights.append(nn.Parameter(torch.empty(groups, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(groups, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = F.relu(x, inplace=True)
        return x


class NDM(nn.Module):
    """Base of the three models; subclasses set ``kind`` and the joint ``groups``."""

    kind: str
    groups: tuple[tuple[int, ...], ...]

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.kind != self.kind:
            raise ValueError(f"{type(self).__name__} needs kind '{self.kind}', got '{config.kind}'")
        if config.window < 2:
            raise ValueError(f"window must be >= 2, got {config.window}")
        flat = [j for g in self.groups for j in g]
        assert flat == list(range(NUM_JOINTS)), "groups must be contiguous runs in MJ order"
        self.config = config
        n_features = 2 * config.window
        per_group = len(self.groups[0])
        self.net = GroupedMLP(len(self.groups), per_group * n_features, per_group,
                              config.width, config.depth)
        self.register_buffer("feature_mean", torch.zeros(NUM_JOINTS, n_features))
        self.register_buffer("feature_std", torch.ones(NUM_JOINTS, n_features))
        self.register_buffer("delta_mean", torch.zeros(NUM_JOINTS))
        self.register_buffer("delta_std", torch.ones(NUM_JOINTS))

    def forward_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W, 16, 2) -> (B, 16) normalized predicted change of q."""
        f = (features(x) - self.feature_mean) / self.feature_std     # (B, 16, F)
        batch = f.shape[0]
        g = f.reshape(batch, len(self.groups), -1).transpose(0, 1).contiguous()  # (G, B, k F)
        return self.net(g).transpose(0, 1).reshape(batch, NUM_JOINTS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W, 16, 2) -> (B, 16) predicted next q (rad)."""
        return x[:, -1, :, 0] + self.delta_mean + self.delta_std * self.forward_normalized(x)

    def normalized_target(self, x: torch.Tensor, next_q: torch.Tensor) -> torch.Tensor:
        """The training target matching ``forward_normalized``."""
        return (next_q - x[:, -1, :, 0] - self.delta_mean) / self.delta_std

    @torch.no_grad()
    def fit_normalization(self, windows: torch.Tensor, next_q: torch.Tensor, chunk: int = 65536):
        """Set the feature and delta statistics from training transitions."""
        n = len(windows)
        s1 = s2 = 0.0
        for i in range(0, n, chunk):
            f = features(windows[i:i + chunk].to(self.feature_mean)).double()
            s1, s2 = s1 + f.sum(0), s2 + (f * f).sum(0)
        mean = s1 / n
        std = (s2 / n - mean * mean).clamp_min(0).sqrt()
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp_min(FEATURE_STD_FLOOR))
        delta = (next_q.to(self.delta_mean) - windows[:, -1, :, 0].to(self.delta_mean)).double()
        self.delta_mean.copy_(delta.mean(0))
        self.delta_std.copy_(delta.std(0).clamp_min(DELTA_STD_FLOOR))


class JointWiseNDM(NDM):
    kind = "joint"
    groups = tuple((j,) for j in range(NUM_JOINTS))


class FingerWiseNDM(NDM):
    kind = "finger"
    groups = tuple(FINGERS.values())


class WholeHandNDM(NDM):
    kind = "whole"
    groups = (tuple(range(NUM_JOINTS)),)


MODELS: dict[str, type[NDM]] = {m.kind: m for m in (JointWiseNDM, FingerWiseNDM, WholeHandNDM)}


def build_model(kind: str, window: int = 10, width: int = 256, depth: int = 2) -> NDM:
    if kind not in MODELS:
        raise ValueError(f"unknown model kind '{kind}'; valid: {sorted(MODELS)}")
    return MODELS[kind](ModelConfig(kind, window, width, depth))


def model_payload(model: NDM) -> dict:
    """Everything needed to rebuild ``model``: config, weights and normalization buffers."""
    return {"format": FORMAT, "config": dataclasses.asdict(model.config),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}


def model_from_payload(payload: dict) -> NDM:
    if payload.get("format") != FORMAT:
        raise ValueError(f"not an NDM checkpoint (format {payload.get('format')!r}, want {FORMAT!r})")
    model = build_model(**payload["config"])
    model.load_state_dict(payload["state_dict"])
    return model


def save_model(model: NDM, path: str | Path) -> None:
    """Atomically: training rewrites ``best.pt`` while later steps may read it, and a kill mid-write
    must leave the previous best."""
    save_atomic(model_payload(model), path)


def load_model(path: str | Path) -> NDM:
    """A model saved by ``save_model`` (or a training checkpoint's ``model`` entry), on CPU."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    return model_from_payload(payload.get("model", payload))
