"""The still-hand holding test: how long the start grasps hold with the hand keeping its targets.

    dexndm-learn hold-test --object-set normal_cylinders --wrists palm_up palm_down --hand-version v2

Every environment starts from a cached start grasp (as training does, with training
randomization of the object and gains) and applies zero actions for ``seconds``; the first drop
(``EnvConfig.drop_distance``) of each is recorded, no disturbance forces. It bounds any policy's
time to fall on these grasps and measures the physics setting's contact creep. Also reports how
many of the grasp candidates were kept as start grasps.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from dexndm_learning.sim.metrics import CONTROL_DT
from dexndm_learning.sim.rotation_env import EnvConfig, RotationEnv


def grasp_yield(env: RotationEnv) -> dict:
    """Start grasps kept of the candidates tried, over the env's objects and wrists."""
    kept = sum(len(g) for per_object in env.grasps for g in per_object)
    per_wrist = env.cfg.random_wrist_pool if "random" in env.cfg.wrists else 1
    tried = env.cfg.grasp.candidates * per_wrist * len(env.cfg.wrists) * (len(env.objects) + len(env.skipped_objects))
    return {"kept": kept, "tried": tried, "kept_share": kept / tried, "objects_without_grasp": env.skipped_objects}


def hold_still(env: RotationEnv, seconds: float = 20.0) -> dict:
    """Share of the env's start states dropped within ``seconds`` of holding still, and the mean
    time to fall (as a fraction of ``seconds``)."""
    steps = int(round(seconds / CONTROL_DT))
    if env.cfg.episode_steps <= steps:
        raise ValueError(f"episode_steps {env.cfg.episode_steps} must exceed the {steps} steps held")
    dropped_at = np.full(env.num_envs, steps, dtype=np.int64)
    zero = np.zeros((env.num_envs, 16))
    for t in range(steps):
        _, _, _, info = env.step(zero)
        first = info["dropped"] & (dropped_at == steps)
        dropped_at[first] = t + 1
    dropped = dropped_at < steps
    return {"episodes": int(env.num_envs), "seconds": seconds, "dropped_share": float(dropped.mean()),
            "ttf": float(dropped_at.mean() / steps),
            "median_drop_s": float(np.median(dropped_at[dropped]) * CONTROL_DT) if dropped.any() else None}


def holding_env_config(base: EnvConfig, wrist: str, seconds: float) -> EnvConfig:
    steps = int(round(seconds / CONTROL_DT))
    return dataclasses.replace(base, wrists=[wrist], disturbance_prob=0.0, episode_steps=steps + 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Still-hand holding test and start-grasp yield, per wrist.")
    ap.add_argument("--object-set", default="normal_cylinders")
    ap.add_argument("--wrists", nargs="+", default=["palm_up", "palm_down"])
    ap.add_argument("--hand-version", default=None, help="HandConfig.version (default: config/hand.yaml's)")
    ap.add_argument("--hand-override", nargs="*", default=[], metavar="KEY=VALUE",
                    help="other HandConfig fields, e.g. substeps=4 noslip_iterations=0")
    ap.add_argument("--num-envs", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    overrides = dict(kv.split("=", 1) for kv in args.hand_override)
    overrides = {k: _number(v) for k, v in overrides.items()}
    if args.hand_version:
        overrides["version"] = args.hand_version
    base = EnvConfig(num_envs=args.num_envs, object_set=args.object_set, hand_overrides=overrides, seed=args.seed)
    results = {"object_set": args.object_set, "hand_overrides": overrides, "wrists": {}}
    for wrist in args.wrists:
        env = RotationEnv(holding_env_config(base, wrist, args.seconds))
        results["wrists"][wrist] = {"grasps": grasp_yield(env), "hold": hold_still(env, args.seconds)}
        print(wrist, json.dumps(results["wrists"][wrist]), flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


if __name__ == "__main__":
    raise SystemExit(main())
