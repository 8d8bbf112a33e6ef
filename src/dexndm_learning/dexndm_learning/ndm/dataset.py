"""Training data: transitions (history window -> next q) as tensors, the train/eval split, and
loading control steps from an ``.npz`` file or a directory of bags.

Split: 9:1 (``eval_fraction``), seeded, by *blocks* of consecutive transitions (at most
``block`` transitions, never spanning two segments) rather than by single transitions. Windows
of neighbouring steps share W-1 of their W rows, so a per-transition split would put
near-copies of every eval sample into the training set and the eval loss would not measure
generalization. Blocks are assigned to eval at random until the eval share is reached.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from dexndm_learning.ndm.bag_ingest import IngestConfig, load_bags
from dexndm_learning.ndm.steps import Steps, Windows


class TransitionDataset(Dataset):
    """``windows`` (N, W, 16, 2) and ``next_q`` (N, 16) as float32 tensors."""

    def __init__(self, windows, next_q):
        self.windows = torch.as_tensor(windows, dtype=torch.float32)
        self.next_q = torch.as_tensor(next_q, dtype=torch.float32)
        if self.windows.ndim != 4 or self.windows.shape[2:] != (16, 2) or \
                self.next_q.shape != (len(self.windows), 16):
            raise ValueError(f"windows {tuple(self.windows.shape)} / next_q "
                             f"{tuple(self.next_q.shape)} must be (N, W, 16, 2) / (N, 16)")

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index):
        return self.windows[index], self.next_q[index]

    def to(self, device) -> "TransitionDataset":
        return TransitionDataset(self.windows.to(device), self.next_q.to(device))

    def batches(self, batch_size: int, generator: torch.Generator | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Mini-batches in order, or shuffled with ``generator``."""
        n = len(self)
        if generator is None:
            for i in range(0, n, batch_size):
                yield self.windows[i:i + batch_size], self.next_q[i:i + batch_size]
            return
        order = torch.randperm(n, generator=generator).to(self.windows.device)
        for i in range(0, n, batch_size):
            yield self[order[i:i + batch_size]]


def split_blocks(segment: np.ndarray, eval_fraction: float = 0.1, seed: int = 0,
                 block: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, eval indices) of transitions with per-transition ``segment`` ids."""
    n = len(segment)
    if not 0 < eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction}")
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = segment[1:] != segment[:-1]
    run_id = np.cumsum(new_run) - 1
    position_in_run = np.arange(n) - np.flatnonzero(new_run)[run_id]
    block_id = np.cumsum(new_run | (position_in_run % block == 0)) - 1
    n_blocks = int(block_id[-1]) + 1 if n else 0
    if n_blocks < 2:
        raise ValueError(f"{n} transitions in {n_blocks} block(s): too few to split train/eval")
    sizes = np.bincount(block_id, minlength=n_blocks)
    order = np.random.default_rng(seed).permutation(n_blocks)
    n_eval_blocks = int(np.searchsorted(np.cumsum(sizes[order]), eval_fraction * n)) + 1
    is_eval = np.zeros(n_blocks, dtype=bool)
    is_eval[order[:min(n_eval_blocks, n_blocks - 1)]] = True
    return np.flatnonzero(~is_eval[block_id]), np.flatnonzero(is_eval[block_id])


def split_dataset(w: Windows, eval_fraction: float, seed: int, block: int
                  ) -> tuple[TransitionDataset, TransitionDataset]:
    train_idx, eval_idx = split_blocks(w.segment, eval_fraction, seed, block)
    return (TransitionDataset(w.windows[train_idx], w.next_q[train_idx]),
            TransitionDataset(w.windows[eval_idx], w.next_q[eval_idx]))


def load_steps(path: str | Path, ingest: IngestConfig = IngestConfig()) -> Steps:
    """Control steps from an ``.npz`` (see ``steps``) or from every bag under a directory.

    Bags that fail are reported on stderr and skipped; no usable data at all is an error.
    """
    path = Path(path)
    if path.suffix == ".npz":
        return Steps.load(path)
    steps, errors = load_bags(path, ingest)
    for err in errors:
        print(f"skipped bag: {err}", file=sys.stderr)
    if not len(steps):
        raise ValueError(f"no usable control steps in {path} ({len(errors)} bag(s) failed)")
    return steps
