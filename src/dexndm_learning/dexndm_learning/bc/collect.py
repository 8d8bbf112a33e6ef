"""Roll out specialists and keep the episodes that survive all 400 steps.

    dexndm-learn collect-rollouts --run runs/specialists/cyl_palm_up --out data/rollouts/cyl_palm_up \\
        --episodes 2000 [--resume] [--axis-set +z] [--wrists base_up base_down]

Episodes run synchronized in batches of ``num_envs``; only the first episode of each env in a
batch counts. The specialist acts deterministically (its mean action) under its training
conditions (randomization, disturbances, observation noise).

With ``--student policy.pt`` (DAgger, an option beyond the paper's pure BC) the student acts and
the specialist labels every state the student reaches; every episode is kept up to its drop.
Behaviour cloning only ever sees the specialist's own states, and a clone that drifts off them
has no data on how to get back.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from dexndm_learning.data.rollout_dataset import MANIFEST, RolloutDataset, RolloutWriter
from dexndm_learning.rl.evaluate import specialist_actor
from dexndm_learning.sim.rotation_env import RotationEnv


def record_batch(env: RotationEnv, act: Callable[[dict], np.ndarray],
                 label: Callable[[dict], np.ndarray] | None = None) -> list[dict]:
    """One synchronized episode per env. Returns the episodes that never dropped the object, or with
    ``label`` (DAgger: ``act`` drives, ``label`` gives the recorded actions) every episode with its
    ``length`` up to and including the step that dropped it."""
    env.reset(np.arange(env.num_envs))
    T, n = env.cfg.episode_steps, env.num_envs
    q = np.zeros((n, T + 1, 16))
    targets = np.zeros((n, T + 1, 16))
    actions = np.zeros((n, T, 16))
    obj_pos = np.zeros((n, T + 1, 3))
    obj_quat = np.zeros((n, T + 1, 4))
    q[:, 0] = env.state[:, 1 + env.qadr]
    targets[:, 0] = env.targets
    obj_pos[:, 0] = env.sens[:, env.layout.obj_pos] - env.centre
    obj_quat[:, 0] = env.sens[:, env.layout.obj_quat]
    axis, wrist, obj = env.axis_world.copy(), env.wrist.copy(), env.obj_of_env.copy()
    ok = np.ones(n, bool)
    length = np.full(n, T)
    for t in range(T):
        obs = env.observations()
        a = np.clip(act(obs), -1.0, 1.0)
        actions[:, t] = a if label is None else np.clip(label(obs), -1.0, 1.0)
        _, _, _, info = env.step(a)
        length[ok & info["dropped"]] = t + 1
        ok &= ~info["dropped"]
        targets[:, t + 1] = info["targets"]
        q[:, t + 1] = info["q"]
        obj_pos[:, t + 1] = info["obj_pos"]
        obj_quat[:, t + 1] = info["obj_quat"]
    return [dict(q=q[i], targets=targets[i], actions=actions[i], obj_pos=obj_pos[i], obj_quat=obj_quat[i],
                 axis=axis[i], wrist=wrist[i], object_id=obj[i], length=length[i])
            for i in (np.arange(n) if label is not None else np.flatnonzero(ok))]


GIVE_UP_AFTER = 20    # batches without one kept episode


class NoSuccessfulEpisodes(ValueError):
    """The policy kept the object in none of the episodes tried under these conditions: collecting
    more would never end (a command line reports it as an input error)."""


def collect(env: RotationEnv, act, out: Path, episodes: int, resume: bool = False, meta: dict | None = None,
            max_batches: int | None = None, label=None, give_up_after: int | None = GIVE_UP_AFTER) -> dict:
    """Append successful episodes (with ``label``: DAgger episodes) to the dataset at ``out`` until
    it holds ``episodes`` (or ``max_batches`` batches were tried this run). A policy that always
    drops would loop forever: after ``give_up_after`` batches without a kept episode this run,
    ``NoSuccessfulEpisodes`` is raised (what was written stays)."""
    meta = dict(meta or {}, objects=[o.name for o in env.objects], reality=env.cfg.reality,
                wrists=list(env.cfg.wrists), axis_set=env.cfg.axis_set, partial_episodes=label is not None,
                hand_version=env.hand_cfg.version)
    writer = RolloutWriter(out, steps=env.cfg.episode_steps, meta=meta, resume=resume)
    kept = tried = 0
    bar = tqdm(total=episodes, initial=writer.episodes, desc="rollouts", unit="ep")
    while writer.episodes < episodes and (max_batches is None or tried < max_batches * env.num_envs):
        batch = record_batch(env, act, label)
        tried += env.num_envs
        for ep in batch[: episodes - writer.episodes]:
            writer.add(**ep)
            kept += 1
        bar.update(min(len(batch), bar.total - bar.n))
        bar.set_postfix(success=f"{kept / tried:.2f}")
        if not kept and give_up_after is not None and tried >= give_up_after * env.num_envs:
            writer.close()
            bar.close()
            corrected = ", every command corrected by a model" if getattr(env, "command_correction", None) else ""
            raise NoSuccessfulEpisodes(f"{out}: the policy kept the object in none of {tried} episodes "
                                       f"({env.cfg.reality} sim{corrected}, wrists {list(env.cfg.wrists)}, "
                                       f"axes {env.cfg.axis_set})")
    writer.close()
    bar.close()
    return {"episodes": writer.episodes, "kept_this_run": kept, "tried_this_run": tried}


def check_wrists(run: Path, wrists: list[str], what: str = "--wrists") -> list[str]:
    """The wrists the specialist at ``run`` trained under, of which ``wrists`` must be some (each
    once): it labels only states it learned from, and a better teacher can take the others."""
    from dexndm_learning.rl.specialist import run_config

    trained = list(run_config(run).env.wrists)
    if not wrists:
        raise ValueError(f"{what}: the list of wrists for {run} is empty")
    if unknown := [w for w in wrists if w not in trained]:
        raise ValueError(f"{what}: {run} did not train under {unknown} (its wrists: {trained})")
    if len(set(wrists)) < len(wrists):
        raise ValueError(f"{what}: {wrists} names a wrist twice (it would get twice the episodes)")
    return trained


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Collect successful specialist rollouts for behaviour cloning.")
    ap.add_argument("--run", required=True, help="specialist run folder (config.yaml, checkpoint.pt)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--num-envs", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--axis-set", default=None,
                    help="override the specialist's axis set, e.g. +z to add episodes of a sense it rarely survives")
    ap.add_argument("--wrists", nargs="+", default=None,
                    help="collect under these of the specialist's training wrists only (where another "
                         "teacher is better under the rest)")
    ap.add_argument("--student", default=None,
                    help="DAgger: this policy artifact acts and the specialist labels (episodes kept up to their drop)")
    ap.add_argument("--command-model", default=None,
                    help="a UAN compensator or ASAP delta-action model applied to every command in the sim "
                         "(fine-tuning for those baselines)")
    args = ap.parse_args(argv)
    run, out = Path(args.run), Path(args.out)
    overrides = {"axis_set": args.axis_set} if args.axis_set else {}
    if args.wrists is not None:
        trained = check_wrists(run, args.wrists)
        overrides["wrists"] = list(args.wrists)
    if args.resume and (out / MANIFEST).exists() and (done := RolloutDataset.open(out).episodes):
        # a fresh random stream: the first one would replay the episodes already kept
        overrides["seed"] = int(np.random.SeedSequence([1000 + args.seed, done]).generate_state(1)[0])
    env, teacher = specialist_actor(run, args.num_envs, args.seed, env_overrides=overrides or None)
    if args.wrists is not None and (others := [w for w in trained if w not in args.wrists]):
        if unseen := env.objects_without_grasps(others):
            raise ValueError(f"--wrists: {run} never trained on {unseen}: they have no start grasp under "
                             f"{others}, so its environment left them out")
    meta = {"specialist": run.name}
    if args.command_model:
        from dexndm_learning.baselines.correction import load_correction

        env.command_correction = load_correction(args.command_model, env.hand_cfg.version)
        meta["command_model"] = str(args.command_model)
    act, label = teacher, None
    if args.student:
        from dexndm_learning.policy.artifact import load_policy

        student = load_policy(args.student)
        student.check_hand(env.hand_cfg.version, args.student)
        meta["student"] = str(args.student)
        act, label = (lambda obs: student(obs["proprio"])), teacher
    print(collect(env, act, out, args.episodes, args.resume, meta, label=label))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
