"""Wave target trajectories: one joint driven at a time, the others held at mid-range (method.md
section 8, the UAN baseline's data), also the probing trajectories of system identification.

Waveforms, with t in seconds at the control rate and the amplitude in units of the joint's
half-range times ``amplitude``: sine ``s sin(2 w t)``, square ``A sign(sin(2 w t))`` and square
plus N(0, ``noise``^2) rad on every target; s, A ~ U(0.5, 1) and w ~ U(``w_low``, ``w_high``).
The paper's w ~ U(0.2, 0.5) gives periods of 6-16 s, longer than a short probe; a probe that must
show the joint's step response uses faster waves. ``amplitude`` < 1 keeps a finger swinging about
mid-range clear of its neighbours (the paper drives the full half-range).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexndm_learning import joint_order
from dexndm_learning.policy.contract import CONTROL_DT

KINDS = ("sine", "square", "square_noise")


@dataclass(frozen=True)
class WaveConfig:
    steps: int = 100              # control steps per trajectory
    amplitude: float = 0.5        # x the joint's half-range at s = A = 1
    w_low: float = 0.2            # rad/s (the argument is 2 w t)
    w_high: float = 0.5
    noise: float = 0.01           # rad, square + noise
    kinds: tuple[str, ...] = KINDS


def mid_range() -> np.ndarray:
    return (joint_order.LOWER + joint_order.UPPER) / 2


def wave_targets(count: int, cfg: WaveConfig = WaveConfig(), seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``count`` trajectories (count, steps, 16) of targets within the joint limits, the joint each
    drives and its waveform; trajectory i drives joint i mod 16 with waveform (i // 16) mod
    len(kinds), so the first 16 x len(kinds) cover every joint with every waveform once."""
    unknown = set(cfg.kinds) - set(KINDS)
    if unknown or not cfg.kinds:
        raise ValueError(f"wave kinds must be among {KINDS}, got {cfg.kinds}")
    rng = np.random.default_rng(seed)
    t = np.arange(cfg.steps) * CONTROL_DT
    half = (joint_order.UPPER - joint_order.LOWER) / 2
    targets = np.tile(mid_range(), (count, cfg.steps, 1))
    joints = np.arange(count) % joint_order.NUM_JOINTS
    kinds = [cfg.kinds[(i // joint_order.NUM_JOINTS) % len(cfg.kinds)] for i in range(count)]
    for i, (j, kind) in enumerate(zip(joints, kinds)):
        scale, w = rng.uniform(0.5, 1.0), rng.uniform(cfg.w_low, cfg.w_high)
        wave = np.sin(2 * w * t)
        if kind != "sine":
            wave = np.where(wave >= 0, 1.0, -1.0)
        targets[i, :, j] += cfg.amplitude * half[j] * scale * wave
        if kind == "square_noise":
            targets[i, :, j] += rng.normal(0.0, cfg.noise, cfg.steps)
    return joint_order.clip_to_limits(targets), joints, kinds
