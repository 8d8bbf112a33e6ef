"""Chaos Box replay plans (no ROS): what the replay node sends for trajectory i of a collection.

Trajectory i replays source trajectory ``i % K`` of K action sequences rolled out in sim by the
base policy for one wrist orientation, open loop, from that trajectory's start targets. Targets
and noise come from ``dexndm_learning.data.replay_targets``, the rule the simulated studies use:
the env's action rule (``target += clip(action, -1, 1) / 24``, clamped to the joint limits), and
with probability ``noise_probability`` N(0, noise_sigma^2) noise (radians) on every target of
the trajectory, clamped again (method.md section 8). An .npz with an array ``targets`` (K, T, 16)
instead (wave and probing trajectories, ``data.wave_targets``; ``dexndm sysid``) is replayed as it
is, under the same noise rule, each trajectory from its first target. Trajectory i draws from its own generator
seeded with (seed, i), so a restarted collection replays trajectory i exactly as the first run did.

Each trajectory is one ``Tick`` list at the control rate: a cosine-ramped move from where the
hand is to the start targets, a hold there while it comes to rest, the START marker with the
first replayed target, the replayed targets, and an END marker one tick after the last target
(no new target: the last one keeps acting for a full control period).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.data.replay_targets import noisy_targets, replay_targets
from dexndm_learning.ndm.sim_data import rollout_actions

START, END = "start", "end"


@dataclass(frozen=True)
class ActionSource:
    actions: np.ndarray    # (K, T, 16) base-policy actions, MJ order (a target source: zeros)
    starts: np.ndarray     # (K, 16) targets each trajectory starts from
    targets: np.ndarray | None = None   # (K, T, 16) targets replayed as they are, instead of the actions


@dataclass(frozen=True)
class NoiseConfig:
    probability: float = 0.5
    sigma: float = 0.01
    seed: int = 0


@dataclass(frozen=True)
class TrajectoryPlan:
    index: int             # in the collection
    source_index: int      # in the ActionSource
    noisy: bool
    sigma: float           # of the noise added (0 when not noisy)
    start: np.ndarray      # (16,)
    targets: np.ndarray    # (T, 16), within the joint limits


@dataclass(frozen=True)
class Tick:
    target: np.ndarray | None      # joint targets to send (None: none; the last one stays in force)
    event: str | None = None       # START or END marker, published before the target


def _from_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Array ``actions`` (K, T, 16) of an .npz, the trajectories starting from the canonical grasp;
    or array ``targets`` (K, T, 16) (e.g. ``data.wave_targets``), each starting from its first."""
    with np.load(path) as f:
        if "targets" in f.files:
            targets = np.asarray(f["targets"], float)
            if targets.ndim != 3 or targets.shape[0] == 0 or targets.shape[2] != joint_order.NUM_JOINTS:
                raise ValueError(f"{path}: targets must be (K > 0, T, 16), got {targets.shape}")
            if not np.all(np.isfinite(targets)):
                raise ValueError(f"{path}: non-finite targets")
            return np.zeros_like(targets), joint_order.clip_to_limits(targets[:, 0]), targets
        if "actions" not in f.files:
            raise ValueError(f"{path}: no array 'actions' or 'targets' (has {f.files})")
        actions = np.asarray(f["actions"], float)
    return actions, np.tile(joint_order.CANONICAL_GRASP, (len(actions), 1)), None


def load_source(path: str | Path, wrist: str, steps: int = 0) -> ActionSource:
    """Action trajectories from a rollout dataset folder (episodes of ``wrist`` only) or an .npz;
    ``steps`` > 0 keeps the first ``steps`` actions of each."""
    path, targets = Path(path), None
    if path.is_dir():
        source = rollout_actions(path, wrist)
        actions, starts = np.asarray(source.actions, float), np.asarray(source.start, float)
        if len(actions) == 0:
            raise ValueError(f"{path}: no episodes for wrist {wrist}")
    elif path.suffix == ".npz" and path.is_file():
        actions, starts, targets = _from_npz(path)
    else:
        raise ValueError(f"action source '{path}' is neither a rollout dataset folder nor an .npz file")
    if actions.ndim != 3 or actions.shape[0] == 0 or actions.shape[2] != joint_order.NUM_JOINTS:
        raise ValueError(f"{path}: actions must be (K > 0, T, 16), got {actions.shape}")
    if steps > actions.shape[1]:
        raise ValueError(f"{path}: {steps} steps asked, the trajectories have {actions.shape[1]}")
    if steps > 0:
        actions = actions[:, :steps]
        targets = None if targets is None else targets[:, :steps]
    if not np.all(np.isfinite(actions)):
        raise ValueError(f"{path}: non-finite actions")
    for s in starts:
        joint_order.validate_targets(s)
    return ActionSource(actions, starts, targets)


def plan_trajectory(source: ActionSource, index: int, noise: NoiseConfig) -> TrajectoryPlan:
    k = index % len(source.actions)
    rng = np.random.default_rng([noise.seed, index])
    if source.targets is None:
        targets, noisy = replay_targets(source.actions[k][None], source.starts[k][None], noise.sigma,
                                        noise.probability, rng)
    else:
        targets, noisy = noisy_targets(source.targets[k][None], noise.sigma, noise.probability, rng)
    noisy = bool(noisy[0])
    return TrajectoryPlan(index, k, noisy, noise.sigma if noisy else 0.0, source.starts[k].copy(), targets[0])


def move_targets(q_from, q_to, steps: int) -> np.ndarray:
    """(steps, 16) targets from ``q_from`` (excluded) to ``q_to`` (the last), cosine-ramped so
    the move starts and ends slowly."""
    s = np.arange(1, steps + 1) / steps
    ramp = 0.5 - 0.5 * np.cos(np.pi * s)
    q_from = np.asarray(q_from, float)
    return joint_order.clip_to_limits(q_from + ramp[:, None] * (np.asarray(q_to, float) - q_from))


def trajectory_ticks(plan: TrajectoryPlan, q_from, move_steps: int, hold_steps: int) -> list[Tick]:
    """Every control tick of one trajectory, from hand pose ``q_from`` (see the module docstring)."""
    ticks = [Tick(q) for q in move_targets(q_from, plan.start, move_steps)]
    ticks += [Tick(plan.start) for _ in range(hold_steps)]
    ticks.append(Tick(plan.targets[0], START))
    ticks += [Tick(q) for q in plan.targets[1:]]
    ticks.append(Tick(None, END))
    return ticks
