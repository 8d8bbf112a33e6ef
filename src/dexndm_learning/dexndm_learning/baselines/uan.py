"""UAN's actuator compensator (method.md section 11; paper Table 6's UAN row), fitted to free-hand
wave data so that the nominal sim, with the compensator in the loop, tracks the recorded joints.

The compensator is one small MLP ([128, 128], ELU) shared by all 16 joints: a joint's input is its
own last ``history`` position errors (desired target - position) and velocities in the
compensated sim, its output a correction added to that joint's position target (bounded by
``max_correction``). UAN's paper applies a torque at every physics step; a position actuator turns
a target offset into ``kp`` x that offset of torque, and our environments step the physics in C
between 20 Hz commands, so the correction is made at the command rate.

UAN trains the compensator with PPO; this fit is supervised instead, because on a free hand the
step that reaches the recorded next position can be computed: the segments are replayed in the
nominal sim with the current compensator in the loop, and at every step a copy of each world
takes the command nudged by ``probe`` rad, which gives each joint's one-step sensitivity to its
target; the label is the correction that would have put the sim at the recorded next position
(``label_corrections``). Replay, label and refit for ``rounds`` rounds on all labels so far (a
DAgger-style loop: later rounds label the states the compensated sim really visits). A command
latency cannot be met one step ahead; it belongs in the identified sim (``dexndm sysid``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import mujoco
import numpy as np
import torch
from torch import nn

from dexndm_learning.config import add_set_option, dotted_overrides, from_dict, to_dict
from dexndm_learning.joint_order import NUM_JOINTS, clip_to_limits
from dexndm_learning.ndm.steps import Steps
from dexndm_learning.policy.contract import CONTROL_DT
from dexndm_learning.sim.batch_stepper import ThreadedStepper
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.reality import RealityProfile, apply_profile, capture_nominal
from dexndm_learning.sysid.fit import Segments
from dexndm_learning.training_state import save_atomic


FORMAT = "dexndm-uan-compensator/1"


@dataclass
class UanConfig:
    history: int = 20               # control steps of (error, velocity) per joint
    hidden: list[int] = field(default_factory=lambda: [128, 128])
    max_correction: float = 0.3     # rad added to a target at most
    probe: float = 0.02             # rad: the nudge that measures a joint's sensitivity
    min_sensitivity: float = 0.05   # below this a joint's label is not trusted (dropped)
    rounds: int = 3                 # replay-label-fit rounds
    epochs: int = 20                # per round, over all labels so far
    batch_size: int = 256            # steps (of 16 joints each) per gradient step
    lr: float = 1e-3
    velocity_scale: float = 0.1     # velocities (rad/s) enter the network multiplied by this
    wrist: str = "palm_up"
    nthread: int = 2
    seed: int = 0


class Compensator(nn.Module):
    """(N, 16, 2 * history) per-joint features -> (N, 16) target corrections (rad)."""

    def __init__(self, cfg: UanConfig):
        super().__init__()
        layers, width = [], 2 * cfg.history
        for h in cfg.hidden:
            layers += [nn.Linear(width, h), nn.ELU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.max_correction = cfg.max_correction

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.max_correction * torch.tanh(self.net(features).squeeze(-1))


def features(desired: np.ndarray, q: np.ndarray, velocity_scale: float) -> np.ndarray:
    """Per-joint inputs from the last H+1 desired targets and positions, (..., H+1, 16) each:
    H errors (desired - q) then H velocities, newest last -> (..., 16, 2H)."""
    err = (desired[..., 1:, :] - q[..., 1:, :])
    vel = velocity_scale * np.diff(q, axis=-2) / CONTROL_DT
    return np.concatenate([np.swapaxes(err, -1, -2), np.swapaxes(vel, -1, -2)], axis=-1).astype(np.float32)


class FreeHandReplay:
    """The recorded segments replayed open loop in one world (nominal unless ``profile``), each
    world paired with a nudged twin that measures the one-step sensitivity."""

    def __init__(self, steps: Steps, cfg: UanConfig, hand_cfg: HandConfig | None = None,
                 profile: RealityProfile | None = None):
        self.cfg = cfg
        self.hand_cfg = hand_cfg or HandConfig.load()
        seg = Segments(steps, cfg.wrist, self.hand_cfg, "UAN")
        self.model, self.qadr, self.k, self.length = seg.model, seg.qadr, seg.k, seg.length
        self.q, self.a, self.mask, self.start = seg.q, seg.a, seg.recorded, seg.start
        if profile is not None:
            apply_profile(self.model, profile, capture_nominal(self.model), mujoco.MjData(self.model))

    def run(self, compensator: Compensator | None, label: bool = True) -> dict[str, np.ndarray]:
        """Replay every segment with ``compensator`` (None: none) in the loop. Returns the sim's
        positions ``q`` (K, T, 16) and, with ``label``, ``features`` (M, 16, 2H), ``labels``
        (M, 16) and ``valid`` (M, 16) for every step with a recorded next position."""
        cfg, k, h = self.cfg, self.k, self.cfg.history
        twins = 2 if label else 1
        stepper = ThreadedStepper([copy.copy(self.model) for _ in range(twins * k)], cfg.nthread,
                                  self.hand_cfg.substeps, 0)
        state = np.tile(self.start, (twins, 1))
        sens = np.zeros((twins * k, self.model.nsensordata))
        stepper.set_states(range(twins * k), state, np.tile(self.a[:, 0], (twins, 1)))
        q_sim = np.zeros((k, self.length, NUM_JOINTS))
        q_sim[:, 0] = self.q[:, 0]
        # histories padded with the first step (the hand at rest at its first target)
        desired_hist = np.repeat(self.a[:, :1], h + 1, axis=1)
        q_hist = np.repeat(self.q[:, :1], h + 1, axis=1)
        out_f, out_l, out_v = [], [], []
        force = np.zeros((twins * k, 3))
        for t in range(self.length - 1):
            feats = features(desired_hist, q_hist, cfg.velocity_scale)
            delta = np.zeros((k, NUM_JOINTS))
            if compensator is not None:
                with torch.no_grad():
                    delta = compensator(torch.from_numpy(feats)).numpy().astype(float)
            command = clip_to_limits(self.a[:, t] + delta)
            if label:
                stepper.set_states(range(k, 2 * k), state[:k], command)
                nudged = clip_to_limits(command + cfg.probe)
                stepper.step(np.concatenate([command, nudged]), force, state, sens)
                q_next, q_nudged = state[:k, 1 + self.qadr], state[k:, 1 + self.qadr]
                gain = (q_nudged - q_next) / np.maximum(nudged - command, 1e-9)
                valid = (gain > cfg.min_sensitivity) & (nudged - command > 0.5 * cfg.probe) & self.mask[:, t + 1, None]
                target = (command - self.a[:, t]) + (self.q[:, t + 1] - q_next) / np.where(valid, gain, 1.0)
                out_f.append(feats)
                out_l.append(np.clip(target, -cfg.max_correction, cfg.max_correction))
                out_v.append(valid)
            else:
                stepper.step(command, force, state, sens)
                q_next = state[:k, 1 + self.qadr]
            q_sim[:, t + 1] = q_next
            desired_hist = np.concatenate([desired_hist[:, 1:], self.a[:, t + 1, None]], axis=1)
            q_hist = np.concatenate([q_hist[:, 1:], q_next[:, None]], axis=1)
        stepper.close()
        out = {"q": q_sim}
        if label:
            out.update(features=np.concatenate(out_f), labels=np.concatenate(out_l).astype(np.float32),
                       valid=np.concatenate(out_v))
        return out

    def tracking_error(self, q_sim: np.ndarray) -> np.ndarray:
        """(16,) mean |q_sim - q_recorded| over the recorded steps."""
        err = np.abs(q_sim - self.q) * self.mask[..., None]
        return err.sum((0, 1)) / self.mask.sum()


def fit_labels(model: nn.Module, opt: torch.optim.Optimizer, x: np.ndarray, y: np.ndarray, valid: np.ndarray,
               epochs: int, batch_size: int, rng: np.random.Generator) -> None:
    """Mean squared error to the labels ``y`` that ``valid`` trusts, minibatches over the first axis
    (shared with ``baselines.asap``)."""
    x, y, w = (torch.as_tensor(v, dtype=torch.float32) for v in (x, y, valid))
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        for s in range(0, len(x), batch_size):
            b = order[s:s + batch_size]
            loss = ((model(x[b]) - y[b]) ** 2 * w[b]).sum() / w[b].sum().clamp(min=1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()


@dataclass
class UanResult:
    compensator: Compensator
    error: np.ndarray               # (16,) tracking error (rad) with the compensator
    nominal_error: np.ndarray       # (16,) without
    history: list[float]            # mean tracking error after each round


def fit(steps: Steps, cfg: UanConfig = UanConfig(), hand_cfg: HandConfig | None = None,
        progress: bool = True) -> UanResult:
    """Fit the compensator to recorded free-hand steps (see the module docstring)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    replay = FreeHandReplay(steps, cfg, hand_cfg)
    model = Compensator(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    feats, labels, valid = [], [], []
    first = replay.run(None)
    nominal_error = replay.tracking_error(first["q"])
    history = []
    data = first
    for r in range(cfg.rounds):
        feats.append(data["features"])
        labels.append(data["labels"])
        valid.append(data["valid"])
        fit_labels(model, opt, np.concatenate(feats), np.concatenate(labels), np.concatenate(valid),
                   cfg.epochs, cfg.batch_size, rng)
        data = replay.run(model, label=r + 1 < cfg.rounds)
        history.append(float(replay.tracking_error(data["q"]).mean()))
        if progress:
            print(f"UAN round {r + 1}/{cfg.rounds}: tracking error {1e3 * history[-1]:.2f} mrad "
                  f"(nominal sim {1e3 * nominal_error.mean():.2f})", flush=True)
    return UanResult(model, replay.tracking_error(data["q"]), nominal_error, history)


def save(result: UanResult, cfg: UanConfig, hand_version: str, path) -> None:
    save_atomic({"format": FORMAT, "config": to_dict(cfg), "hand_version": hand_version,
                "state_dict": result.compensator.state_dict(), "error": result.error.tolist(),
                "nominal_error": result.nominal_error.tolist()}, path)


def load(path) -> tuple[Compensator, UanConfig]:
    blob = torch.load(path, weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not a UAN compensator file")
    cfg = from_dict(UanConfig, blob["config"], where=f"{path} config")
    model = Compensator(cfg)
    model.load_state_dict(blob["state_dict"])
    return model, cfg


def main(argv=None) -> int:
    import argparse
    import json
    from pathlib import Path

    from dexndm_learning.ndm.dataset import load_steps

    ap = argparse.ArgumentParser(description="Fit UAN's shared per-joint compensator to free-hand wave steps "
                                             "(bags or .npz) so that the nominal sim tracks them.")
    ap.add_argument("--steps", required=True, help="an .npz of control steps or a folder of bags (e.g. dexndm sysid's)")
    ap.add_argument("--out", required=True, help="folder for compensator.pt and report.json")
    add_set_option(ap)
    args = ap.parse_args(argv)
    cfg = from_dict(UanConfig, dotted_overrides(args.set), where="--set")
    steps = load_steps(args.steps)
    hand = HandConfig.load()
    result = fit(steps, cfg, hand)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save(result, cfg, hand.version, out / "compensator.pt")
    report = {"steps": str(args.steps), "segments": int(len(np.unique(steps.segment))),
              "tracking_error_mrad": (1e3 * result.error).round(3).tolist(),
              "nominal_error_mrad": (1e3 * result.nominal_error).round(3).tolist(),
              "mean_error_mrad": round(1e3 * float(result.error.mean()), 3),
              "mean_nominal_error_mrad": round(1e3 * float(result.nominal_error.mean()), 3),
              "rounds_mrad": [round(1e3 * h, 3) for h in result.history]}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"compensator: {out / 'compensator.pt'}; tracking error {report['mean_error_mrad']} mrad "
          f"(nominal sim {report['mean_nominal_error_mrad']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
