"""Env steps per second of the rotation environment on the MuJoCo Warp backend, on whatever device
Warp finds (a GPU if there is one, else the CPU, where it is for checking only).

    python benchmarks/warp_throughput.py [--num-envs N] [--steps S] [--device cuda:0] [--arrays numpy]

Runs ``RotationEnv`` (``backend: warp``, normal cylinders, palm up, training randomization) with
random actions and reports, for the same steps: env steps/s (world control steps per second,
observations, rewards and resets included) and the physics' share of the time (on a GPU the
physics is launched asynchronously, so its share there is the launch time). ``--arrays``: the
env's per-step state as torch tensors on the device (default) or numpy on the host. Also the C
MuJoCo backend's rate on the same env for reference (``--no-c`` skips it). Last line:
``warp_env_steps_per_s=<v>``; the line before it names the device.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from dexndm_learning.sim.rotation_env import EnvConfig, RotationEnv
from dexndm_learning.sim.warp_stepper import default_device


def rate(env: RotationEnv, steps: int) -> tuple[float, float]:
    """(env steps/s, share of the time in physics) over ``steps`` control steps after one warm-up.
    The rest is the host's numpy work (observations, rewards, resets with randomization)."""
    actions = np.random.default_rng(0).normal(0, 0.3, (steps + 1, env.num_envs, 16))
    if env.cfg.arrays == "torch":
        import torch

        actions = torch.as_tensor(actions, dtype=env.state.dtype, device=env.state.device)
    env.step(actions[0])            # first step: Warp compiles its kernels (and captures graphs on CUDA)
    env.physics_seconds = 0.0
    t = time.perf_counter()
    for k in range(1, steps + 1):
        env.step(actions[k])
    _synchronize(env)
    elapsed = time.perf_counter() - t
    return steps * env.num_envs / elapsed, env.physics_seconds / elapsed


def _synchronize(env: RotationEnv) -> None:
    """Wait for the device's queued work (timing asynchronous CUDA launches)."""
    if env.cfg.arrays == "torch" and env.state.device.type == "cuda":
        import torch

        torch.cuda.synchronize(env.state.device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="", help="Warp device (default: CUDA if present, else cpu)")
    ap.add_argument("--num-envs", type=int, default=None, help="worlds (default 8192 on a GPU, 64 on CPU)")
    ap.add_argument("--steps", type=int, default=None, help="control steps timed (default 200 on a GPU, 20 on CPU)")
    ap.add_argument("--arrays", choices=["torch", "numpy"], default="torch",
                    help="the env's per-step state: torch tensors on the device (default) or numpy on the host")
    ap.add_argument("--no-c", action="store_true", help="skip the C MuJoCo reference")
    args = ap.parse_args()
    device = args.device or default_device()
    gpu = device.startswith("cuda")
    n = args.num_envs or (8192 if gpu else 64)
    steps = args.steps or (200 if gpu else 20)
    cfg = EnvConfig(num_envs=n, backend="warp", warp_device=device, arrays=args.arrays)
    t = time.perf_counter()
    env = RotationEnv(cfg)
    print(f"built {n} worlds on {device} ({args.arrays} arrays) in {time.perf_counter() - t:.1f} s "
          f"({len(env.stepper.families)} Warp model(s))", flush=True)
    warp_rate, warp_phys = rate(env, steps)
    print(f"warp env steps/s: {warp_rate:,.0f} (physics {100 * warp_phys:.0f} % of the time; host "
          f"{1e6 * (1 - warp_phys) / warp_rate:.1f} us per env step)")
    if not args.no_c:
        c_env = RotationEnv(EnvConfig(num_envs=min(n, 1024)))
        c_rate, c_phys = rate(c_env, steps)
        print(f"C MuJoCo ({c_env.cfg.nthread} threads, {c_env.num_envs} envs) env steps/s: {c_rate:,.0f} "
              f"(physics {100 * c_phys:.0f} %; host {1e6 * (1 - c_phys) / c_rate:.1f} us per env step)")
    import warp as wp

    print(f"device={device} ({wp.get_device(device).name})")
    print(f"warp_env_steps_per_s={warp_rate:.0f}")


if __name__ == "__main__":
    main()
