"""Cheaper hand physics, measured: control steps/s of the batched env and the still-hand holding
test for candidate physics settings against today's (``config/hand.yaml``).

    .venv/bin/python benchmarks/physics_settings.py [--settings today 5x10ms ...] [--num-envs 256]

For each setting: env control steps/s with random actions (palm up, normal cylinders, as
``sim_throughput``; the settings are timed in turn for ``--rounds`` rounds and each keeps its
median, so a busy host slows all alike: the steal share is printed), the start-grasp yield, and
the share of start grasps dropped within 20 s holding still, palm up and palm down
(``sim.holding``; each setting makes its own grasps, as training would). A setting is adoptable
for training when it is >= 1.5x today's steps/s and drops no more than 1.5x today's share (both
wrists pooled; at least one drop allowed). Last line:
``cheap_physics_speedup=<steps/s of the fastest adoptable setting / today's>`` (1.0 if none).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from dexndm_learning.sim.holding import grasp_yield, hold_still, holding_env_config
from dexndm_learning.sim.rotation_env import EnvConfig, RotationEnv
from dexndm_learning.steal_clock import StealCorrectedClock

# HandConfig overrides; every one keeps the 0.05 s control period (timestep x substeps).
SETTINGS: dict[str, dict] = {
    "today": {},
    "today_v1": {"version": "v1"},    # the hand before the fingertip fix, same physics
    "iter10": {"iterations": 10, "ls_iterations": 5},
    "5x10ms": {"timestep": 0.01, "substeps": 5},
    "5x10ms_iter10": {"timestep": 0.01, "substeps": 5, "iterations": 10, "ls_iterations": 5},
    "4x12.5ms_iter10": {"timestep": 0.0125, "substeps": 4, "iterations": 10, "ls_iterations": 5},
    "5x10ms_euler_iter10": {"timestep": 0.01, "substeps": 5, "iterations": 10, "ls_iterations": 5,
                            "integrator": "euler"},
    "noslip1": {"noslip_iterations": 1},
    "ls5": {"ls_iterations": 5},
    "5x10ms_ls5": {"timestep": 0.01, "substeps": 5, "ls_iterations": 5},
}


def steps_per_s(env: RotationEnv, steps: int) -> float:
    rng = np.random.default_rng(0)
    env.step(rng.normal(0, 0.3, (env.num_envs, 16)))
    t = time.perf_counter()
    for _ in range(steps):
        env.step(rng.normal(0, 0.3, (env.num_envs, 16)))
    return steps * env.num_envs / (time.perf_counter() - t)


def hold(name: str, base: EnvConfig) -> dict:
    row: dict = {"setting": name, "overrides": base.hand_overrides}
    dropped = 0.0
    for wrist in ("palm_up", "palm_down"):
        env = RotationEnv(holding_env_config(base, wrist, 20.0))
        held = hold_still(env)
        row[wrist] = {"grasps": grasp_yield(env)["kept_share"], "dropped_share": held["dropped_share"]}
        dropped += held["dropped_share"] / 2
    row["dropped_share"] = dropped
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--num-envs", type=int, default=256)
    ap.add_argument("--steps", type=int, default=50, help="control steps timed per setting and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hand-version", default="v2")
    ap.add_argument("--out", default=None, help="also write the rows as JSON")
    args = ap.parse_args()
    names = ["today"] + [s for s in args.settings if s != "today"]
    bases = {n: EnvConfig(num_envs=args.num_envs, hand_overrides={"version": args.hand_version, **SETTINGS[n]})
             for n in names}
    rows = []
    for name in names:
        rows.append(hold(name, bases[name]))
        print(json.dumps(rows[-1]), flush=True)
    envs = {n: RotationEnv(bases[n]) for n in names}
    rates: dict[str, list[float]] = {n: [] for n in names}
    clock = StealCorrectedClock()
    t0 = time.monotonic()
    for _ in range(args.rounds):
        for n in names:
            rates[n].append(steps_per_s(envs[n], args.steps))
    clock.tick()
    for r in rows:
        r["steps_per_s"] = float(np.median(rates[r["setting"]]))
    print(f"steal share while timing: {clock.steal_seconds / (time.monotonic() - t0):.2f}")
    today = rows[0]
    allowed = max(1.5 * today["dropped_share"], 1.0 / (2 * args.num_envs))
    print("| setting | steps/s | speed-up | grasps kept up / down | dropped in 20 s up / down | adoptable |")
    print("|---|---|---|---|---|---|")
    best = 1.0
    for r in rows:
        speedup = r["steps_per_s"] / today["steps_per_s"]
        ok = speedup >= 1.5 and r["dropped_share"] <= allowed and "version" not in SETTINGS[r["setting"]]
        if ok:
            best = max(best, speedup)
        print(f"| {r['setting']} | {r['steps_per_s']:.0f} | {speedup:.2f}x | {r['palm_up']['grasps']:.2f} / "
              f"{r['palm_down']['grasps']:.2f} | {r['palm_up']['dropped_share']:.3f} / "
              f"{r['palm_down']['dropped_share']:.3f} | {'yes' if ok else 'no'} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)
    print(f"cheap_physics_speedup={best:.3f}")


if __name__ == "__main__":
    main()
