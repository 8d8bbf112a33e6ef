"""Control steps (``ndm.steps.Steps``) from simulation under a reality profile, for sim-to-sim
NDM studies.

- ``chaos_box_steps``: open-loop replay of base-policy action trajectories in a Chaos Box scene
  (method.md section 8), one segment per trajectory;
- ``free_hand_steps``: the same replay with nothing around the hand (the paper's "w/o load"
  ablation);
- ``rollout_steps``: closed-loop policy episodes in ``RotationEnv`` (task-relevant data: a hand
  rotating an object), one segment per episode.

Joint positions are the *measured* ones (the profile's sensor model: bias + noise), for the
model inputs and the prediction targets alike, because that is all a real robot records.

Row k of a segment holds q[k], measured before target a[k] is commanded, and a[k] (the
``Steps`` convention). The position reached after a segment's last command has no command of
its own and is not stored, so a T-step trajectory gives T rows and T - W transitions.

Replay targets come from ``data.replay_targets`` (the env's action rule, then N(0, sigma^2)
radians on every target of a trajectory chosen with probability ``noise_prob``), the same
function the ROS replay node uses.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import mujoco
import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.data.rollout_dataset import RolloutDataset
from dexndm_learning.ndm.steps import Steps
from dexndm_learning.sim.chaos_box import ChaosBoxSim, chaos_box_spec
from dexndm_learning.sim.hand_model import HandConfig, hand_spec
from dexndm_learning.sim.reality import RealityProfile, load_profile
from dexndm_learning.data.replay_targets import replay_targets
from dexndm_learning.sim.rotation_env import RandomizationConfig, RotationEnv
from dexndm_learning.sim.wrist import wrist_quat

LEAD_IN = 10
"""Control steps the hand holds a trajectory's start targets before the replay (not recorded)."""


@dataclass
class ActionTrajectories:
    actions: np.ndarray     # (K, T, 16) policy actions
    start: np.ndarray       # (K, 16) targets before the first action (the episode's grasp)


def rollout_actions(root: str | Path, wrist: str | None = None, steps: int | None = None,
                    max_trajectories: int | None = None) -> ActionTrajectories:
    """The actions of a rollout dataset's episodes (only those at ``wrist`` if given), cut to
    their first ``steps`` steps; possibly empty."""
    ds = RolloutDataset.open(root)
    ds.require_full_episodes("action replay")
    actions, start = [], []
    for shard in ds.iter_shards(("actions", "targets", "wrist")):
        keep = np.ones(len(shard["wrist"]), bool)
        if wrist is not None:
            keep = np.abs(np.asarray(shard["wrist"]) @ wrist_quat(wrist)) > 1 - 1e-6
        actions.append(np.asarray(shard["actions"][keep, :steps]))
        start.append(np.asarray(shard["targets"][keep, 0]))
    t = min(steps or ds.steps, ds.steps)
    actions = np.concatenate(actions) if actions else np.zeros((0, t, 16), np.float32)
    start = np.concatenate(start) if start else np.zeros((0, 16), np.float32)
    return ActionTrajectories(actions[:max_trajectories], start[:max_trajectories])


def _profile(profile: str | Path | RealityProfile, seed: int) -> RealityProfile:
    """The profile with its sensor-noise stream mixed with ``seed`` (independent noise per call)."""
    p = profile if isinstance(profile, RealityProfile) else load_profile(profile)
    return dataclasses.replace(p, seed=int(np.random.SeedSequence([p.seed, seed]).generate_state(1)[0]))


def replay_steps(spec: mujoco.MjSpec, profile: str | Path | RealityProfile, trajectories: ActionTrajectories,
                 noise_sigma: float = 0.01, noise_prob: float = 0.5, seed: int = 0,
                 hand_cfg: HandConfig | None = None, settle_steps: int = 40,
                 progress: Callable[[int], object] | None = None) -> Steps:
    """Replay every trajectory open-loop in the scene ``spec``, one after the other without
    resetting the scene (like the real box), each after a ``LEAD_IN`` hold of its start targets."""
    actions = np.asarray(trajectories.actions, dtype=float)
    if actions.ndim != 3 or actions.shape[2] != joint_order.NUM_JOINTS:
        raise ValueError(f"actions must be (K, T, 16), got {actions.shape}")
    k, t = actions.shape[:2]
    start = np.broadcast_to(trajectories.start, (k, joint_order.NUM_JOINTS))
    targets, _ = replay_targets(actions, start, noise_sigma, noise_prob, np.random.default_rng(seed))
    sim = ChaosBoxSim(spec, hand_cfg or HandConfig.load(), _profile(profile, seed), settle_steps=settle_steps)
    parts = []
    for i in range(k):
        sim.hold(joint_order.clip_to_limits(start[i]), LEAD_IN)
        replay = sim.replay(targets[i])
        parts.append(Steps(replay.q[:-1], replay.targets, np.full(t, i)))
        if progress is not None:
            progress(1)
    return Steps.concat(parts)


def chaos_box_steps(profile: str | Path | RealityProfile, wrist, trajectories: ActionTrajectories,
                    noise_sigma: float = 0.01, noise_prob: float = 0.5, seed: int = 0, variant: str = "box",
                    n_balls: int | None = None, hand_cfg: HandConfig | None = None,
                    progress: Callable[[int], object] | None = None) -> Steps:
    """Chaos Box data: the replay in a ball box (or the strapped-ball scene) built with ``seed``."""
    cfg = hand_cfg or HandConfig.load()
    spec = chaos_box_spec(cfg, wrist, variant, n_balls=n_balls, seed=seed)
    return replay_steps(spec, profile, trajectories, noise_sigma, noise_prob, seed, cfg, progress=progress)


def free_hand_steps(profile: str | Path | RealityProfile, wrist, trajectories: ActionTrajectories,
                    noise_sigma: float = 0.01, noise_prob: float = 0.5, seed: int = 0,
                    hand_cfg: HandConfig | None = None,
                    progress: Callable[[int], object] | None = None) -> Steps:
    """The same replay with nothing around the hand (no load)."""
    cfg = hand_cfg or HandConfig.load()
    return replay_steps(hand_spec(cfg, wrist), profile, trajectories, noise_sigma, noise_prob, seed, cfg,
                        settle_steps=0, progress=progress)


# --- closed-loop rotation data --------------------------------------------------------------------

def task_env_overrides(profile: str, wrist: str, episode_steps: int, num_envs: int, seed: int = 0) -> dict:
    """EnvConfig fields for recording task data in ``profile``: one wrist, no training
    randomization, no disturbance forces, and no observation noise on q (so the env's q
    history holds exactly the sensor model's measurements; see ``measured_q``)."""
    return dict(reality=str(profile), wrists=[wrist], episode_steps=episode_steps, num_envs=num_envs, seed=seed,
                joint_noise=0.0, disturbance_prob=0.0, randomization=RandomizationConfig(enabled=False))


def measured_q(env: RotationEnv) -> np.ndarray:
    """(N, 16) latest measured joint positions of every env: the reality profile's sensor model.

    The env's q history is the sensor model's output plus uniform observation noise of
    ``joint_noise``, so this needs an env made with ``joint_noise=0``.
    """
    if env.cfg.joint_noise:
        raise ValueError(f"measured_q needs an env with joint_noise=0 (got {env.cfg.joint_noise}): "
                         "its q history would hold training noise on top of the measurement")
    return env.q_hist[:, -1].copy()


def rollout_steps(env: RotationEnv, act: Callable[[dict], np.ndarray], episodes: int,
                  progress: Callable[[int], object] | None = None) -> Steps:
    """Closed-loop episodes of ``act`` in ``env``, one segment each, until it ends (time-out or drop).

    Episodes run in synchronized batches of ``env.num_envs`` (reset together; only each env's
    first episode in a batch counts), ``env.cfg.episode_steps`` steps per batch.
    """
    n, steps = env.num_envs, env.cfg.episode_steps
    parts: list[Steps] = []
    while len(parts) < episodes:
        env.reset(np.arange(n))
        q = np.zeros((steps, n, joint_order.NUM_JOINTS))
        a = np.zeros_like(q)
        length = np.full(n, steps)
        running = np.ones(n, bool)
        for t in range(steps):
            q[t] = measured_q(env)
            _, _, done, info = env.step(act(env.observations()))
            a[t] = info["targets"]
            length[running & done] = t + 1
            running &= ~done
        for i in range(min(n, episodes - len(parts))):
            parts.append(Steps(q[:length[i], i], a[:length[i], i], np.zeros(length[i])))
            if progress is not None:
                progress(1)
    return Steps.concat(parts)


def open_loop_actor(actions: np.ndarray, num_envs: int) -> Callable[[dict], np.ndarray]:
    """An actor replaying recorded actions (K, T, 16), ignoring observations.

    Meant for ``rollout_steps`` with ``episode_steps == T``: call c is step c mod T of batch
    c // T, and env i of batch b plays trajectory (b num_envs + i) mod K.
    """
    actions = np.asarray(actions)
    k, t = actions.shape[:2]
    calls = itertools.count()

    def act(_obs):
        batch, step = divmod(next(calls), t)
        return actions[(batch * num_envs + np.arange(num_envs)) % k, step]

    return act
