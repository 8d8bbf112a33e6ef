"""Control-step sequences and the (history window, next state) transitions cut from them.

``Steps`` holds, per 20 Hz control step k, the measured joint positions ``q[k]`` (at the moment
the command is issued) and the position targets ``a[k]`` commanded at that step, both (T, 16) in
MJ order, plus ``segment[k]``: an id that is constant over a contiguous run of steps that really
follow one another (one trajectory without gaps). A transition's window holds steps k-W..k-1 as
``(q, a)`` pairs and its target is ``q[k]``; windows never span two segments, so a segment of n
steps gives ``max(0, n - W)`` transitions.

On disk (``.npz``): arrays ``q`` (T, 16), ``a`` (T, 16) and ``segment`` (T,) int.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexndm_learning.joint_order import NUM_JOINTS


@dataclass
class Steps:
    q: np.ndarray          # (T, 16) float32, measured positions
    a: np.ndarray          # (T, 16) float32, commanded position targets
    segment: np.ndarray    # (T,) int64, contiguous-run id

    def __post_init__(self):
        self.q = np.asarray(self.q, dtype=np.float32)
        self.a = np.asarray(self.a, dtype=np.float32)
        self.segment = np.asarray(self.segment, dtype=np.int64)
        n = len(self.segment)
        if self.q.shape != (n, NUM_JOINTS) or self.a.shape != (n, NUM_JOINTS):
            raise ValueError(f"Steps: q {self.q.shape}, a {self.a.shape} and segment ({n},) "
                             f"must be (T, 16), (T, 16) and (T,)")

    def __len__(self) -> int:
        return len(self.segment)

    def run_starts(self) -> np.ndarray:
        """For every step, the index of the first step of its contiguous segment run."""
        change = np.ones(len(self), dtype=bool)
        change[1:] = self.segment[1:] != self.segment[:-1]
        starts = np.flatnonzero(change)
        return starts[np.cumsum(change) - 1]

    @staticmethod
    def concat(parts: list["Steps"]) -> "Steps":
        """Join sequences; segment ids are renumbered so runs of different parts never merge."""
        if not parts:
            return Steps(np.zeros((0, NUM_JOINTS)), np.zeros((0, NUM_JOINTS)), np.zeros(0))
        segments, offset = [], 0
        for p in parts:
            _, dense = np.unique(p.segment, return_inverse=True)
            segments.append(dense + offset)
            offset += int(dense.max()) + 1 if len(p) else 0
        return Steps(np.concatenate([p.q for p in parts]), np.concatenate([p.a for p in parts]),
                     np.concatenate(segments))

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, q=self.q, a=self.a, segment=self.segment)

    @staticmethod
    def load(path: str | Path) -> "Steps":
        with np.load(path) as f:
            missing = {"q", "a", "segment"} - set(f.files)
            if missing:
                raise ValueError(f"{path}: missing arrays {sorted(missing)} (has {f.files})")
            return Steps(f["q"], f["a"], f["segment"])


@dataclass
class Windows:
    windows: np.ndarray    # (N, W, 16, 2) float32: [..., 0] = q, [..., 1] = a
    next_q: np.ndarray     # (N, 16) float32
    segment: np.ndarray    # (N,) int64, the segment each transition comes from


def transition_steps(steps: Steps, window: int) -> np.ndarray:
    """Indices k whose previous ``window`` steps lie in k's own segment run."""
    k = np.arange(len(steps))
    return k[k - steps.run_starts() >= window]


def make_windows(steps: Steps, window: int) -> Windows:
    """All transitions (history of ``window`` steps -> next q) of ``steps``."""
    k = transition_steps(steps, window)
    if k.size == 0:
        return Windows(np.zeros((0, window, NUM_JOINTS, 2), np.float32),
                       np.zeros((0, NUM_JOINTS), np.float32), np.zeros(0, np.int64))
    qa = np.stack([steps.q, steps.a], axis=-1)                           # (T, 16, 2)
    hist = np.lib.stride_tricks.sliding_window_view(qa, window, axis=0)  # (T-W+1, 16, 2, W)
    windows = np.ascontiguousarray(np.moveaxis(hist[k - window], -1, 1))
    return Windows(windows, steps.q[k], steps.segment[k])
