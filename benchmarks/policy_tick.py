"""Policy tick latency and period jitter in the composed "rotate" graph (simulated hand holding an
object + policy with base and residual + axis commander, one process, one rclpy executor).

Latency = the policy node's own ``tick_duration_ms`` (arrival of the joint state the tick used ->
its target published, inference and publishing included). To get 2,000+ ticks quickly the policy
is triggered by every joint state (``trigger: state``) and the simulated hand publishes states at
250 Hz; each tick is measured in real time. Base widths 1024 (the paper's generalist), 512 and 256,
5 blocks; the residual as configured in ``config/residual.yaml`` (256 x 2 blocks); random
weights, one torch thread (two threads are far slower on this shared 2-core
machine). Period jitter: the 20 Hz timer (the policies' own rate: the node refuses another one
since policy files record their control period) for 400 ticks at the first width;
|period - nominal| and missed ticks.
Also the bare inference time (base + residual, no ROS) for reference.
Last line: ``policy_tick_p99_ms=<p99 latency at width 1024>`` (target <= 5 ms).
"""
import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
import torch
from rclpy.executors import SingleThreadedExecutor

from dexndm_control import graphs
from dexndm_control.graphs.composition import compose
from dexndm_control.testing.policies import random_policy
from dexndm_learning.policy.artifact import load_policy
from dexndm_learning.policy.contract import CONTROL_DT
from dexndm_learning.residual.train import ResidualConfig
from dexndm_msgs.msg import PolicyStatus

WARMUP = 50
BLOCKS = 5


def specs_for(base: Path, residual: Path, policy: dict) -> list:
    """The rotate graph (sim) with the benchmark's rate settings on top."""
    out = []
    for s in graphs.build("rotate", sim=True, base=str(base), residual=str(residual)):
        extra = {"sim_hand": {"publish_rate_hz": 250.0}, "rotation_policy": policy}.get(s.name, {})
        out.append(dataclasses.replace(s, overrides={**s.overrides, **extra}))
    return out


def collect(specs, ticks: int, timeout: float) -> list[PolicyStatus]:
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        nodes = compose(specs, context)
        probe = rclpy.create_node("bench_probe", context=context)
        status: list[PolicyStatus] = []
        probe.create_subscription(PolicyStatus, "/dexndm/policy_status", status.append, 1000)
        for n in (*nodes, probe):
            executor.add_node(n)
        ran = lambda: sum(np.isfinite(s.tick_duration_ms) for s in status[WARMUP:])  # noqa: E731
        end = time.monotonic() + timeout
        while ran() < ticks and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)
        for n in (*nodes, probe):
            executor.remove_node(n)
            n.destroy_node()
        return status[WARMUP:]
    finally:
        executor.shutdown()
        rclpy.try_shutdown(context=context)


def inference_ms(base: Path, residual: Path, n: int = 300) -> float:
    b, r = load_policy(base), load_policy(residual)
    obs = np.zeros(b.obs_dim + 16, np.float32)
    for _ in range(20):
        r(obs), b(obs[:b.obs_dim])
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        b(obs[:b.obs_dim])
        r(obs)
        t.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(t))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=2000)
    ap.add_argument("--widths", type=int, nargs="+", default=[1024, 512, 256])
    ap.add_argument("--timer-hz", type=float, default=1 / CONTROL_DT, help="timer rate for the period-jitter run")
    ap.add_argument("--jitter-ticks", type=int, default=400)
    args = ap.parse_args()
    torch.set_num_threads(1)
    p99 = {}
    with tempfile.TemporaryDirectory() as tmp:
        res_cfg = ResidualConfig.load()
        for width in args.widths:
            base = random_policy(Path(tmp) / f"base{width}.pt", "base", width=width, blocks=BLOCKS)
            residual = random_policy(Path(tmp) / f"res{width}.pt", "residual", width=res_cfg.width,
                                     blocks=res_cfg.blocks, seed=1)
            status = collect(specs_for(base, residual, {"trigger": "state"}), args.ticks, timeout=10 * args.ticks / 100)
            lat = np.array([s.tick_duration_ms for s in status if np.isfinite(s.tick_duration_ms)])
            p50, p99[width] = np.percentile(lat, [50, 99])
            print(f"width {width:4d} x {BLOCKS} blocks, base + residual: {len(lat)} ticks, state received -> "
                  f"target published p50 {p50:.2f} ms, p99 {p99[width]:.2f} ms, max {lat.max():.2f} ms; "
                  f"bare inference {inference_ms(base, residual):.2f} ms")
            if width == args.widths[0]:
                nominal = 1e3 / args.timer_hz
                status = collect(specs_for(base, residual, {"rate_hz": args.timer_hz}), args.jitter_ticks,
                                 timeout=3 * args.jitter_ticks / args.timer_hz)
                period = np.array([s.period_ms for s in status])
                dev = np.abs(period - nominal)
                print(f"width {width:4d}, timer at {args.timer_hz:g} Hz: {len(period)} ticks, period p50 "
                      f"{np.percentile(period, 50):.2f} ms, |period - {nominal:g} ms| p50 "
                      f"{np.percentile(dev, 50):.2f} ms, p99 {np.percentile(dev, 99):.2f} ms, max {dev.max():.2f} ms, "
                      f"missed ticks "
                      f"{status[-1].missed_ticks - status[0].missed_ticks}")
    print(f"policy_tick_p99_ms={p99[args.widths[0]]:.3f}")


if __name__ == "__main__":
    main()
