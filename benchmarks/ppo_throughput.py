"""End-to-end PPO training throughput on the rotation environment (collection + update).

Runs a fixed short training (specialist (a)'s settings, fresh run folder) and reports env
steps/s and where the time goes: physics (MuJoCo threads), observations/rewards/resets (numpy),
policy inference during collection, and the PPO update. Last line: ``ppo_steps_per_s=<value>``.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

import torch

from dexndm_learning.config import add_set_option, dotted_overrides
from dexndm_learning.rl.specialist import SpecialistConfig, make_runner, ppo_update


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="cyl_palm_up")
    ap.add_argument("--iterations", type=int, default=8)
    add_set_option(ap)
    args = ap.parse_args(argv)
    os.environ.setdefault("DEXNDM_CACHE", tempfile.mkdtemp(prefix="dexndm-bench-"))
    cfg = SpecialistConfig.load(args.config, dotted_overrides(args.set))
    torch.set_num_threads(cfg.torch_threads)
    runner, venv = make_runner(dataclasses.replace(cfg))
    alg, env = runner.alg, venv.env
    alg.train_mode()
    obs = venv.get_observations()
    t_env = t_act = t_update = 0.0
    env.physics_seconds = 0.0
    start = time.perf_counter()
    for it in range(args.iterations):
        with torch.inference_mode():
            for _ in range(cfg.ppo.steps_per_env):
                t0 = time.perf_counter()
                actions = alg.act(obs)
                t1 = time.perf_counter()
                obs, rewards, dones, extras = venv.step(actions)
                t2 = time.perf_counter()
                alg.process_env_step(obs, rewards, dones, extras)
                t_act += (t1 - t0) + (time.perf_counter() - t2)
                t_env += t2 - t1
            t0 = time.perf_counter()
            alg.compute_returns(obs)
            t_update += time.perf_counter() - t0
        t0 = time.perf_counter()
        ppo_update(cfg, alg, it)
        t_update += time.perf_counter() - t0
    total = time.perf_counter() - start
    steps = args.iterations * cfg.ppo.steps_per_env * env.num_envs
    physics = env.physics_seconds
    print(f"config={args.config} envs={env.num_envs} nthread={env.cfg.nthread} torch_threads={cfg.torch_threads} "
          f"update_threads={cfg.update_threads} "
          f"iterations={args.iterations} env_steps={steps}")
    print(f"physics            {100 * physics / total:5.1f} %")
    print(f"obs/reward/resets  {100 * (t_env - physics) / total:5.1f} %")
    print(f"policy (collect)   {100 * t_act / total:5.1f} %")
    print(f"PPO update         {100 * t_update / total:5.1f} %")
    print(f"ppo_steps_per_s={steps / total:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
