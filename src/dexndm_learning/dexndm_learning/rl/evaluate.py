"""Evaluate a rotation policy in simulation: RotR, RotP, TTF per axis group, 3 seeds.

    dexndm-learn eval-specialist --run runs/specialists/cyl_palm_up [--out DIR] [--seeds 0 1 2]

Each seed is one evaluation of ``num_envs`` synchronized 400-step episodes (every env starts
together and only its first episode counts). Metrics are averaged over envs within a seed and
reported as mean +- std over seeds, per axis group, as in the paper.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dexndm_learning.sim import metrics
from dexndm_learning.sim.axes import axis_direction, axis_group
from dexndm_learning.sim.rotation_env import RotationEnv
from dexndm_learning.sim.wrist import wrist_name


@dataclass
class EpisodeRecord:
    omega: np.ndarray       # (N, T, 3) object angular velocity, hand frame
    axis: np.ndarray        # (N, 3) target axis, hand frame
    axis_world: np.ndarray  # (N, 3)
    alive: np.ndarray       # (N, T) bool: object still held after step t
    wrist: np.ndarray       # (N, 4)


def run_episodes(env: RotationEnv, act, steps: int | None = None) -> EpisodeRecord:
    """Run one synchronized episode in every env with ``act(obs_dict) -> actions``."""
    steps = steps or env.cfg.episode_steps
    env.reset(np.arange(env.num_envs))
    axis, axis_world, wrist = env.axis_hand.copy(), env.axis_world.copy(), env.wrist.copy()
    n = env.num_envs
    omega = np.zeros((n, steps, 3))
    alive = np.zeros((n, steps), dtype=bool)
    held = np.ones(n, dtype=bool)
    for t in range(steps):
        _, _, _, info = env.step(act(env.observations()))
        held &= ~info["dropped"]
        omega[:, t] = info["omega"]
        alive[:, t] = held
    return EpisodeRecord(omega, axis, axis_world, alive, wrist)


def run_goal_episodes(env: RotationEnv, act, rng: np.random.Generator, steps: int | None = None) -> np.ndarray:
    """Goal-oriented rotation: each env gets a goal orientation (a random rotation of 90-180 deg
    from the start); at every step the command is the axis of the remaining relative rotation
    (world frame). Returns per-env success: held to the end and within 0.1 pi of the goal."""
    from scipy.spatial.transform import Rotation

    from dexndm_learning.sim.wrist import from_wxyz

    steps = steps or env.cfg.episode_steps
    env.reset(np.arange(env.num_envs))
    n = env.num_envs
    start = from_wxyz(env.sens[:, env.layout.obj_quat])
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    turn = Rotation.from_rotvec(direction * rng.uniform(np.pi / 2, np.pi, (n, 1)))
    goal = turn * start
    wrists = from_wxyz(env.wrist)
    held = np.ones(n, dtype=bool)
    angle = np.full(n, np.pi)
    for _ in range(steps):
        rel = (goal * from_wxyz(env.sens[:, env.layout.obj_quat]).inv()).as_rotvec()   # hand frame
        angle = np.linalg.norm(rel, axis=1)
        moving = angle > 1e-3
        env.axis_hand[moving] = rel[moving] / angle[moving, None]
        env.axis_world[:] = wrists.apply(env.axis_hand)
        _, _, _, info = env.step(act(env.observations()))
        held &= ~info["dropped"]
    final = np.linalg.norm((goal * from_wxyz(env.sens[:, env.layout.obj_quat]).inv()).as_rotvec(), axis=1)
    return held & metrics.goal_success(final)


def episode_metrics(rec: EpisodeRecord) -> dict[str, np.ndarray]:
    return {
        "RotR": metrics.rot_reward(rec.omega, rec.axis, rec.alive),
        "RotP": metrics.rot_penalty(rec.omega, rec.axis, rec.alive),
        "TTF": metrics.time_to_fall(rec.alive, rec.alive.shape[1]),
        "Rot": metrics.rotation_radians(rec.omega, rec.axis, rec.alive),
    }


def summarize(records: list[EpisodeRecord]) -> dict[str, dict[str, tuple[float, float]]]:
    """{axis group: {metric: (mean, std over seeds)}}, then each principal direction ('+z', '-z',
    ...) on its own, then, when episodes ran under more than one named wrist, each named wrist
    with each axis group ('palm_down +-z'), then 'all'."""
    per_seed: dict[str, dict[str, list[float]]] = {}
    for rec in records:
        m = episode_metrics(rec)
        groups = np.array([axis_group(a) for a in rec.axis_world])
        directions = np.array([axis_direction(a) or "" for a in rec.axis_world])
        masks = {g: groups == g for g in sorted(set(groups))}
        masks.update({d: directions == d for d in sorted(set(directions) - {""})})
        wrists = np.array([wrist_name(q) or "" for q in rec.wrist])
        named = [w for w in dict.fromkeys(wrists) if w]
        if len(named) > 1:
            masks.update({f"{w} {g}": (wrists == w) & (groups == g) for w in named for g in sorted(set(groups))})
        masks["all"] = np.ones(len(groups), bool)
        for g, mask in masks.items():
            for k, v in m.items():
                per_seed.setdefault(g, {}).setdefault(k, []).append(float(v[mask].mean()))
    return {g: {k: metrics.mean_std(v) for k, v in d.items()} for g, d in per_seed.items()}


def markdown_table(summary, title: str) -> str:
    lines = [f"**{title}**", "", "| axis group | RotR | TTF | RotP | Rot (rad) |", "|---|---|---|---|---|"]
    for g, d in summary.items():
        if g == "goal":
            continue
        cells = [f"{d[k][0]:.2f} ± {d[k][1]:.2f}" for k in ("RotR", "TTF", "RotP", "Rot")]
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    if "goal" in summary:
        m, sd = summary["goal"]["GO_Succ"]
        lines.append(f"\nGoal-oriented success (GO Succ): {100 * m:.1f} ± {100 * sd:.1f} %")
    return "\n".join(lines) + "\n"


def plot_records(records: list[EpisodeRecord], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = records[0]
    proj = np.einsum("nti,ni->nt", rec.omega, rec.axis) * rec.alive
    angle = np.cumsum(proj, axis=1) * metrics.CONTROL_DT
    t = np.arange(angle.shape[1]) * metrics.CONTROL_DT
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for i in range(min(16, len(angle))):
        axes[0].plot(t, angle[i], lw=0.8)
    axes[0].set(xlabel="time (s)", ylabel="rotation about the target axis (rad)", title="16 episodes (seed 0)")
    alive_frac = np.mean([r.alive.mean(0) for r in records], axis=0)
    axes[1].plot(t, alive_frac)
    axes[1].set(xlabel="time (s)", ylabel="fraction still held", ylim=(0, 1.05), title="survival")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def evaluate(make_actor, title: str, out_dir: Path, seeds=(0, 1, 2)) -> dict:
    """``make_actor(seed) -> (env, act)``; one evaluation per seed; writes metrics and plots."""
    records, goal_success = [], []
    for seed in seeds:
        env, act = make_actor(seed)
        records.append(run_episodes(env, act))
        goal_success.append(float(run_goal_episodes(env, act, np.random.default_rng(seed)).mean()))
    summary = summarize(records)
    summary["goal"] = {"GO_Succ": metrics.mean_std(goal_success)}
    out_dir.mkdir(parents=True, exist_ok=True)
    table = markdown_table(summary, title)
    if env.skipped_objects:
        table += f"\nLeft out (no grasp held with the canonical pose): {', '.join(env.skipped_objects)}\n"
    (out_dir / "metrics.json").write_text(json.dumps({**summary, "skipped_objects": env.skipped_objects}, indent=2))
    (out_dir / "metrics.md").write_text(table)
    plot_records(records, out_dir / "episodes.png", title)
    return summary


def specialist_actor(run_dir: Path, num_envs: int, seed: int = 0, env_overrides: dict | None = None,
                     checkpoint: str = "checkpoint.pt"):
    """(env, act) for a trained specialist: its training conditions, changed by ``env_overrides``
    (which win over ``num_envs`` and the seed); the default seed is 1000 + seed so it never
    replays a training stream. The policy acts with its mean. The env is numpy (the evaluations,
    renders and rollout recorders read it with numpy) whatever array kind the run trained with."""
    from dexndm_learning.rl.specialist import load_checkpoint, make_runner, run_config

    cfg = run_config(run_dir)
    env_cfg = dataclasses.replace(cfg.env, **{"num_envs": num_envs, "seed": 1000 + seed, "arrays": "numpy",
                                              **(env_overrides or {})})
    runner, venv = make_runner(dataclasses.replace(cfg, env=env_cfg))
    load_checkpoint(runner, run_dir / checkpoint)
    policy = runner.get_inference_policy()

    def act(obs):
        with torch.inference_mode():
            return policy(venv.as_tensordict(obs)).numpy()

    return venv.env, act


def artifact_actor(policy_path: Path, env_cfg, seed: int):
    """(env, act) for a deployable policy file acting on the generalist's observation."""
    from dexndm_learning.policy.artifact import load_policy

    policy = load_policy(policy_path)
    env = RotationEnv(dataclasses.replace(env_cfg, seed=1000 + seed))
    policy.check_hand(env.hand_cfg.version, policy_path)
    return env, lambda obs: policy(obs["proprio"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Evaluate a specialist run or a policy file (RotR, TTF, RotP per axis "
                                             "group, GO Succ), mean +- std over seeds.")
    ap.add_argument("--run", required=True, help="specialist run folder (config.yaml, checkpoint.pt); with --policy, "
                                                 "the run whose training conditions are used")
    ap.add_argument("--policy", default=None, help="a deployable policy file (e.g. the generalist) to evaluate instead")
    ap.add_argument("--object-set", default=None, help="evaluate on another object set (e.g. test)")
    ap.add_argument("--wrists", nargs="+", default=None,
                    help="evaluate under these wrists instead of the run's (e.g. the six named ones for a run "
                         "trained on random wrists: palm_up palm_down thumb_up thumb_down base_up base_down)")
    ap.add_argument("--checkpoint", default="checkpoint.pt",
                    help="checkpoint file in the run folder, e.g. checkpoint_30min.pt (a wall-clock snapshot)")
    ap.add_argument("--out", default=None, help="default <run>/eval")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--num-envs", type=int, default=256)
    args = ap.parse_args(argv)
    run = Path(args.run)
    overrides = {"object_set": args.object_set} if args.object_set else {}
    if args.wrists:
        overrides["wrists"] = args.wrists
    if args.policy:
        from dexndm_learning.rl.specialist import run_config

        env_cfg = dataclasses.replace(run_config(run).env, num_envs=args.num_envs,
                                      arrays="numpy", **overrides)
        title = f"{Path(args.policy).name} on {run.name} conditions"
        summary = evaluate(lambda seed: artifact_actor(Path(args.policy), env_cfg, seed), title,
                           Path(args.out or run / "eval_policy"), args.seeds)
    else:
        title = run.name
        summary = evaluate(lambda seed: specialist_actor(run, args.num_envs, seed, overrides, args.checkpoint), title,
                           Path(args.out or run / "eval"), args.seeds)
    print(markdown_table(summary, title))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
