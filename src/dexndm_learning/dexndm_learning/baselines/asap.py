"""ASAP's delta-action model (method.md section 11; paper Table 6's ASAP row): ``da = pi(s, a)``
fitted so that the nominal sim, driven by the recorded commands plus ``da``, reaches the recorded
next joint positions of task rollouts in the target world.

The data are the base policy's own rotation episodes in the target world (``record``): per
control step the world's state (the hand's joints and the object; on a real robot a motion-capture
estimate, as ASAP uses), the command sent, the object disturbance, and the next state. The model
sees what a deployed system observes: joint positions and their velocity over the last step,
the object's pose and velocity, the wrist orientation and the command; it outputs a bounded
correction of the 16 targets.

ASAP trains the delta model with PPO over 1-1.5 s horizons; this fit is supervised on one-step
labels instead, the same construction as ``baselines.uan``: each recorded state is loaded into the
nominal sim and into a twin whose command is nudged by ``probe`` rad; the twin gives each joint's
one-step sensitivity to its target and the label is the correction that would have reached the
recorded next position. With the states taken from the recording (not from a free-running sim),
the labels need no further rounds.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from dexndm_learning.config import from_dict, to_dict
from dexndm_learning.baselines.uan import fit_labels
from dexndm_learning.joint_order import NUM_JOINTS, clip_to_limits
from dexndm_learning.policy.contract import CONTROL_DT
from dexndm_learning.sim.batch_stepper import ThreadedStepper
from dexndm_learning.sim.rotation_env import RotationEnv
from dexndm_learning.sim.wrist import gravity_in_hand
from dexndm_learning.training_state import save_atomic

FORMAT = "dexndm-asap-delta/1"
INPUTS = 16 + 16 + 3 + 4 + 3 + 3 + 4 + 16     # q, velocity, object pos/quat/linvel/angvel, wrist, command


@dataclass
class AsapConfig:
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    max_delta: float = 0.3          # rad added to a target at most
    probe: float = 0.02             # rad: the nudge that measures a joint's sensitivity
    min_sensitivity: float = 0.05   # below this a joint's label is not trusted (dropped)
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    nthread: int = 2
    seed: int = 0


class DeltaActionModel(nn.Module):
    """(N, INPUTS) -> (N, 16) target corrections (rad); inputs normalized by statistics of the data."""

    def __init__(self, cfg: AsapConfig, mean: np.ndarray | None = None, std: np.ndarray | None = None):
        super().__init__()
        layers, width = [], INPUTS
        for h in cfg.hidden:
            layers += [nn.Linear(width, h), nn.ELU()]
            width = h
        layers.append(nn.Linear(width, NUM_JOINTS))
        self.net = nn.Sequential(*layers)
        self.max_delta = cfg.max_delta
        self.register_buffer("mean", torch.as_tensor(np.zeros(INPUTS) if mean is None else mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.ones(INPUTS) if std is None else std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.max_delta * torch.tanh(self.net((x - self.mean) / self.std))


@dataclass
class Transitions:
    """Recorded control steps of a target world, one row per (env, step) that did not end."""
    env: np.ndarray         # (M,) env index (its object and model)
    state: np.ndarray       # (M, nstate) full physics state before the step
    command: np.ndarray     # (M, 16) targets sent
    force: np.ndarray       # (M, 3) object disturbance during the step
    wrist: np.ndarray       # (M, 4)
    inputs: np.ndarray      # (M, INPUTS) what the delta model sees
    q_next: np.ndarray      # (M, 16) joint positions after the step

    def __len__(self) -> int:
        return len(self.env)


def model_inputs(env: RotationEnv, q, q_prev, sens, command) -> np.ndarray:
    """(N, INPUTS): joint positions, their velocity over the last step, the object's pose and
    velocity, the wrist, the command."""
    lay = env.layout
    return np.concatenate([q, 0.1 * (q - q_prev) / CONTROL_DT, sens[:, lay.obj_pos] - env.centre,
                           sens[:, lay.obj_quat], sens[:, lay.obj_linvel], 0.1 * sens[:, lay.obj_angvel],
                           env.wrist, command], axis=1)


def record(env: RotationEnv, act, steps: int) -> Transitions:
    """Run ``act(obs) -> actions`` in ``env`` (the target world) for ``steps`` control steps."""
    rows: dict[str, list] = {k: [] for k in ("env", "state", "command", "force", "wrist", "inputs", "q_next")}
    q_prev = env.state[:, 1 + env.qadr].copy()
    for _ in range(steps):
        before = env.state.copy()
        q = before[:, 1 + env.qadr]
        sens = env.sens.copy()
        _, _, done, _ = env.step(act(env.observations()))
        keep = np.flatnonzero(~done)
        inputs = model_inputs(env, q, q_prev, sens, env.commanded)
        for k, v in (("env", np.arange(env.num_envs)), ("state", before), ("command", env.commanded),
                     ("force", env.force), ("wrist", env.wrist), ("inputs", inputs),
                     ("q_next", env.state[:, 1 + env.qadr])):
            rows[k].append(np.array(v[keep]))
        q_prev = np.where(done[:, None], env.state[:, 1 + env.qadr], q)
    return Transitions(**{k: np.concatenate(v) for k, v in rows.items()})


class NominalTwins:
    """The nominal sim (``env``'s worlds, no randomization) with a nudged twin of each world."""

    def __init__(self, env: RotationEnv, cfg: AsapConfig):
        self.env, self.cfg = env, cfg
        self.models = [copy.copy(m) for m in env.models + env.models]
        self.stepper = ThreadedStepper(self.models, cfg.nthread, env.substeps, env.obj_body)

    def next_q(self, tr: Transitions, ids: np.ndarray, command: np.ndarray,
               nudge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Next joint positions of transitions ``ids`` (at most one per env) under ``command``, of
        their twins under ``command + nudge`` clipped to the limits, and the nudge that remained."""
        n = len(ids)
        worlds = np.concatenate([tr.env[ids], tr.env[ids] + self.env.num_envs])
        for w, q in zip(worlds, np.concatenate([tr.wrist[ids], tr.wrist[ids]])):
            self.models[w].opt.gravity[:] = gravity_in_hand(q)
        nudged = clip_to_limits(command + nudge)
        ctrl = np.concatenate([command, nudged])
        states = np.concatenate([tr.state[ids], tr.state[ids]])
        self.stepper.set_states(worlds, states, ctrl)
        full_ctrl = np.zeros((len(self.models), NUM_JOINTS))
        full_force = np.zeros((len(self.models), 3))
        full_ctrl[worlds] = ctrl
        full_force[worlds] = np.concatenate([tr.force[ids], tr.force[ids]])
        state = np.zeros((len(self.models), self.stepper.nstate))
        sens = np.zeros((len(self.models), self.models[0].nsensordata))
        self.stepper.step(full_ctrl, full_force, state, sens, ids=worlds)         # the loaded worlds only
        q = state[:, 1 + self.env.qadr]
        return q[worlds[:n]], q[worlds[n:]], nudged - command

    def close(self) -> None:
        self.stepper.close()


def one_per_world(env_ids: np.ndarray) -> list[np.ndarray]:
    """Transition index sets with at most one per env (a world holds one state at a time)."""
    order = np.argsort(env_ids, kind="stable")
    rank = np.empty(len(env_ids), dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(env_ids[order])) + 1]
    for s, e in zip(starts, np.r_[starts[1:], len(order)]):
        rank[order[s:e]] = np.arange(e - s)
    return [np.flatnonzero(rank == r) for r in range(rank.max() + 1)] if len(env_ids) else []


def deltas(model: DeltaActionModel | None, inputs: np.ndarray) -> np.ndarray:
    if model is None:
        return np.zeros((len(inputs), NUM_JOINTS))
    with torch.no_grad():
        return model(torch.as_tensor(inputs, dtype=torch.float32)).numpy().astype(float)


def labels(twins: NominalTwins, tr: Transitions, cfg: AsapConfig) -> tuple[np.ndarray, np.ndarray]:
    """(M, 16) one-step corrections and (M, 16) which of them to trust."""
    out = np.zeros((len(tr), NUM_JOINTS))
    valid = np.zeros((len(tr), NUM_JOINTS), bool)
    for ids in one_per_world(tr.env):
        q, q_nudged, step = twins.next_q(tr, ids, tr.command[ids], cfg.probe)
        gain = (q_nudged - q) / np.maximum(step, 1e-9)
        ok = (gain > cfg.min_sensitivity) & (step > 0.5 * cfg.probe)
        out[ids] = np.clip((tr.q_next[ids] - q) / np.where(ok, gain, 1.0), -cfg.max_delta, cfg.max_delta)
        valid[ids] = ok
    return out.astype(np.float32), valid


def one_step_error(twins: NominalTwins, tr: Transitions, model: DeltaActionModel | None) -> np.ndarray:
    """(16,) mean |q_next(nominal sim, command + delta) - recorded q_next|."""
    err = np.zeros(NUM_JOINTS)
    for ids in one_per_world(tr.env):
        command = clip_to_limits(tr.command[ids] + deltas(model, tr.inputs[ids]))
        q, _, _ = twins.next_q(tr, ids, command, 0.0)
        err += np.abs(q - tr.q_next[ids]).sum(0)
    return err / len(tr)


def fit(twins: NominalTwins, tr: Transitions, cfg: AsapConfig = AsapConfig()) -> DeltaActionModel:
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    y, w = labels(twins, tr, cfg)
    model = DeltaActionModel(cfg, tr.inputs.mean(0), tr.inputs.std(0) + 1e-3)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    fit_labels(model, opt, tr.inputs, y, w, cfg.epochs, cfg.batch_size, rng)
    return model


def save(model: DeltaActionModel, cfg: AsapConfig, hand_version: str, path) -> None:
    save_atomic({"format": FORMAT, "config": to_dict(cfg), "hand_version": hand_version,
                "state_dict": model.state_dict()}, path)


def load(path) -> DeltaActionModel:
    blob = torch.load(path, weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not an ASAP delta-action model file")
    model = DeltaActionModel(from_dict(AsapConfig, blob["config"], where=f"{path} config"))
    model.load_state_dict(blob["state_dict"])
    return model


def main(argv=None) -> int:
    import argparse
    import dataclasses
    import json
    from pathlib import Path

    from dexndm_learning.config import add_set_option, dotted_overrides
    from dexndm_learning.rl.evaluate import artifact_actor
    from dexndm_learning.sim.rotation_env import EnvConfig, RandomizationConfig

    ap = argparse.ArgumentParser(description="Fit ASAP's delta-action model: the base policy's rotation steps in the "
                                             "target world, one-step labels in the nominal sim.")
    ap.add_argument("--base", required=True, type=Path, help="base policy artifact that acts in the target world")
    ap.add_argument("--reality", required=True, help="the target world: config/reality/<name>.yaml or a path")
    ap.add_argument("--object-set", default="normal_cylinders")
    ap.add_argument("--wrists", nargs="+", default=["palm_up"])
    ap.add_argument("--axis-set", default="z")
    ap.add_argument("--num-envs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=400, help="control steps recorded per env")
    ap.add_argument("--held-out", type=float, default=0.2, help="share of the steps kept out of the fit for the report")
    ap.add_argument("--out", required=True, type=Path)
    add_set_option(ap)
    args = ap.parse_args(argv)
    cfg = from_dict(AsapConfig, dotted_overrides(args.set), where="--set")
    env_cfg = EnvConfig(num_envs=args.num_envs, object_set=args.object_set, wrists=args.wrists, axis_set=args.axis_set,
                        reality=args.reality, randomization=RandomizationConfig(enabled=False), nthread=cfg.nthread)
    target, act = artifact_actor(args.base, env_cfg, seed=0)
    tr = record(target, act, args.steps)
    nominal = RotationEnv(dataclasses.replace(target.cfg, reality="nominal"))
    twins = NominalTwins(nominal, cfg)
    order = np.random.default_rng(cfg.seed).permutation(len(tr))
    cut = int(round(len(tr) * (1 - args.held_out)))

    def part(ids):
        return Transitions(**{f.name: getattr(tr, f.name)[np.sort(ids)] for f in dataclasses.fields(tr)})
    train, held = part(order[:cut]), part(order[cut:])
    model = fit(twins, train, cfg)
    report = {"base": str(args.base), "reality": args.reality, "transitions": len(tr), "held_out": len(held)}
    if len(held):
        before, after = one_step_error(twins, held, None), one_step_error(twins, held, model)
        report.update(one_step_error_mrad=round(1e3 * float(after.mean()), 3),
                      nominal_one_step_error_mrad=round(1e3 * float(before.mean()), 3),
                      per_joint_mrad=(1e3 * after).round(3).tolist(), nominal_per_joint_mrad=(1e3 * before).round(3).tolist())
    twins.close()
    args.out.mkdir(parents=True, exist_ok=True)
    save(model, cfg, target.hand_cfg.version, args.out / "delta_model.pt")
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"delta-action model: {args.out / 'delta_model.pt'}; " + (
        f"held-out one-step error {report['one_step_error_mrad']} mrad (nominal sim {report['nominal_one_step_error_mrad']})"
        if len(held) else "no held-out steps"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
