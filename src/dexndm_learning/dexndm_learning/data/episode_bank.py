"""Every episode of several rollout datasets in memory, field by field, with the samplers that
behaviour cloning and residual training draw from."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dexndm_learning.data.rollout_dataset import RolloutDataset
from dexndm_learning.policy.contract import proprio_at_steps
from dexndm_learning.sim.hand_model import check_hand_version
from dexndm_learning.sim.wrist import NAMED_WRISTS, to_wxyz, wrist_rotation


def named_wrist_index(wrists: np.ndarray, tol_deg: float = 1.0) -> np.ndarray:
    """Index in ``NAMED_WRISTS`` of each (w, x, y, z) quaternion within ``tol_deg`` of a named
    wrist, else -1."""
    named = np.array([to_wxyz(wrist_rotation(n)) for n in NAMED_WRISTS])
    q = np.asarray(wrists, float)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    angle = 2 * np.degrees(np.arccos(np.clip(np.abs(q @ named.T), 0.0, 1.0)))      # (N, 6)
    best = angle.argmin(axis=1)
    return np.where(angle[np.arange(len(q)), best] < tol_deg, best, -1)


class EpisodeBank:
    """All episodes of several datasets, loaded field-wise (q, targets, actions, wrist, axis, length).
    With ``purpose``, only datasets of whole episodes are accepted (not DAgger data)."""

    def __init__(self, roots: list[str | Path], purpose: str | None = None):
        parts: dict[str, list] = {k: [] for k in ("q", "targets", "actions", "wrist", "axis", "length")}
        source, names = [], {}
        self.hand_version = None
        for root in roots:
            ds = RolloutDataset.open(root)
            if self.hand_version is None:
                self.hand_version = ds.hand_version
            check_hand_version(ds.hand_version, self.hand_version, f"dataset {root} (the first was made on {self.hand_version})")
            if purpose:
                ds.require_full_episodes(purpose)
            name = names.setdefault(ds.meta.get("specialist", str(root)), len(names))
            for shard in ds.iter_shards(tuple(parts)):
                for k in parts:
                    parts[k].append(np.asarray(shard[k]))
                source.append(np.full(len(parts["q"][-1]), name))
        if not parts["q"]:
            raise ValueError(f"no episodes in {roots}")
        self.data = {k: np.concatenate(v) for k, v in parts.items()}
        self.source = np.concatenate(source)
        self.episodes, self.steps = self.data["actions"].shape[:2]

    def sample_steps(self, episodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniformly drawn valid step of each episode (DAgger episodes end at their drop)."""
        return (rng.random(len(episodes)) * self.data["length"][episodes]).astype(np.int64)

    def group_weights(self) -> np.ndarray:
        """Per-episode sampling weights (sum 1) that give every (specialist, named wrist, axis) group
        the same share; episodes under random wrists form one wrist group per specialist and axis."""
        keys = np.concatenate([self.source[:, None], named_wrist_index(self.data["wrist"])[:, None],
                               np.round(self.data["axis"], 3)], axis=1)
        _, group, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        w = 1.0 / counts[group.ravel()]
        return w / w.sum()

    def batch(self, episodes: np.ndarray, steps: np.ndarray, rng: np.random.Generator, noise: float,
              history: int) -> tuple[np.ndarray, np.ndarray]:
        d = self.data
        q = d["q"][episodes]
        q = q + rng.uniform(-noise, noise, q.shape)
        obs = proprio_at_steps(q, d["targets"][episodes], d["wrist"][episodes], d["axis"][episodes], steps[:, None],
                          history)[:, 0]
        return obs.astype(np.float32), d["actions"][episodes, steps].astype(np.float32)
