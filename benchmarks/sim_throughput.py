"""Control steps per second of the batched rotation environment vs the bound of raw physics.

Same model (hand + object, one per env), same substeps, same number of environments, same run:
- env: ``RotationEnv.step`` (rollout threads + observations, rewards, resets in numpy);
- raw: the bound of the physics alone, replaying the controls the env applied (so the contact
  work is the same), the better of (a) ``mujoco.rollout`` with nothing else and (b) Python
  threads each looping ``mj_step`` over its share of environments.
Also reports the Chaos Box scene's steps/s. Last line: ``sim_throughput_ratio=<env/raw>``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

import mujoco
import numpy as np
from mujoco import rollout

from dexndm_learning.sim.rotation_env import EnvConfig, RotationEnv

CONTROL_SPEC = int(mujoco.mjtState.mjSTATE_CTRL) | int(mujoco.mjtState.mjSTATE_XFRC_APPLIED)


def env_rate(env: RotationEnv, steps: int) -> tuple[float, np.ndarray, list[np.ndarray]]:
    """Steps/s of the env, plus its start state and the controls it applied (for the replays)."""
    rng = np.random.default_rng(0)
    actions = rng.normal(0, 0.3, (steps, env.num_envs, 16))
    env.step(actions[0])
    start = env.state.copy()
    controls = []
    t = time.perf_counter()
    for k in range(steps):
        env.step(actions[k])
        controls.append(rollout_control(env))
    elapsed = time.perf_counter() - t
    return steps * env.num_envs / elapsed, start, controls


def rollout_control(env: RotationEnv) -> np.ndarray:
    """The targets and object force the env just applied, as a rollout control array."""
    nctrl = mujoco.mj_stateSize(env.models[0], CONTROL_SPEC)
    control = np.zeros((env.num_envs, env.substeps, nctrl))
    control[:, :, :16] = env.targets[:, None]
    f0 = 16 + 6 * env.obj_body          # xfrc_applied rows follow ctrl
    control[:, :, f0:f0 + 3] = env.force[:, None]
    return control


def raw_rollout_rate(env: RotationEnv, start: np.ndarray, controls: list[np.ndarray]) -> float:
    state = start.copy()
    out_s = np.zeros((env.num_envs, env.substeps, env.nstate))
    out_d = np.zeros((env.num_envs, env.substeps, env.layout.size))
    datas = [mujoco.MjData(env.models[0]) for _ in range(env.cfg.nthread)]
    with rollout.Rollout(nthread=env.cfg.nthread) as r:
        t = time.perf_counter()
        for control in controls:
            r.rollout(env.models, datas, state, control, control_spec=CONTROL_SPEC, skip_checks=True,
                      nstep=env.substeps, state=out_s, sensordata=out_d)
            state = out_s[:, -1].copy()
    return len(controls) * env.num_envs / (time.perf_counter() - t)


def raw_threads_rate(env: RotationEnv, start: np.ndarray, controls: list[np.ndarray]) -> float:
    datas = []
    for i, m in enumerate(env.models):
        d = mujoco.MjData(m)
        mujoco.mj_setState(m, d, start[i], mujoco.mjtState.mjSTATE_FULLPHYSICS)
        datas.append(d)
    chunks = np.array_split(np.arange(env.num_envs), env.cfg.nthread)
    f0 = 16 + 6 * env.obj_body

    def work(ids):
        for control in controls:
            for i in ids:
                d = datas[i]
                d.ctrl[:] = control[i, 0, :16]
                d.xfrc_applied[env.obj_body, :3] = control[i, 0, f0:f0 + 3]
                for _ in range(env.substeps):
                    mujoco.mj_step(env.models[i], d)

    threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return len(controls) * env.num_envs / (time.perf_counter() - t)


def chaos_box_rate(steps: int, wrist: str = "palm_down", hand_overrides: dict | None = None) -> float:
    """Control steps/s of one Chaos Box scene (hand buried in balls) replaying a gait."""
    from dexndm_learning import joint_order
    from dexndm_learning.sim.chaos_box import ChaosBoxSim, chaos_box_spec
    from dexndm_learning.sim.hand_model import HandConfig

    cfg = HandConfig.load(overrides=hand_overrides)
    sim = ChaosBoxSim(chaos_box_spec(cfg, wrist), cfg)
    t = np.arange(steps)[:, None] * 0.05
    targets = joint_order.clip_to_limits(joint_order.CANONICAL_GRASP + 0.2 * np.sin(2 * np.pi * 0.5 * t))
    start = time.perf_counter()
    sim.replay(targets)
    return steps / (time.perf_counter() - start)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-envs", type=int, default=256)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--nthread", type=int, default=None, help="physics threads (default: EnvConfig's)")
    ap.add_argument("--backend", default="mujoco", help="EnvConfig.backend of the env (mujoco or mujoco_rollout)")
    ap.add_argument("--skip-chaos-box", action="store_true")
    ap.add_argument("--hand-version", default=None, help="HandConfig.version (default: config/hand.yaml's)")
    args = ap.parse_args(argv)
    os.environ.setdefault("DEXNDM_CACHE", tempfile.mkdtemp(prefix="dexndm-bench-"))
    hand = {"version": args.hand_version} if args.hand_version else {}
    extra = {"nthread": args.nthread} if args.nthread else {}
    env = RotationEnv(EnvConfig(num_envs=args.num_envs, hand_overrides=hand, backend=args.backend, **extra))
    rate_env, start, controls = env_rate(env, args.steps)
    rate_rollout = raw_rollout_rate(env, start, controls)
    rate_threads = raw_threads_rate(env, start, controls)
    bound = max(rate_rollout, rate_threads)
    print(f"envs={args.num_envs} substeps={env.substeps} nthread={env.cfg.nthread} backend={args.backend} "
          f"hand={env.hand_cfg.version}")
    print(f"env control steps/s:            {rate_env:10.0f}")
    print(f"raw rollout control steps/s:    {rate_rollout:10.0f}")
    print(f"raw mj_step threads steps/s:    {rate_threads:10.0f}")
    if not args.skip_chaos_box:
        print(f"chaos box control steps/s (1 scene, palm down): {chaos_box_rate(40, hand_overrides=hand):.1f}")
    print(f"sim_throughput_ratio={rate_env / bound:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
