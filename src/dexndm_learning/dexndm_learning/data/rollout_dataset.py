"""Rollout datasets: 400-step episodes in append-only, memory-mappable shards.

Two kinds, told apart by the manifest's ``meta["partial_episodes"]``: the specialists' successful
episodes (every episode full; what behaviour cloning, dynamics pretraining and residual training
read), and DAgger data, where the generalist acted and the specialist labelled (``actions`` are
the specialist's, ``targets`` follow the generalist's), each episode kept up to its drop
(``length``). Readers that need whole episodes call ``require_full_episodes``.

Why this format: plain ``.npy`` files per shard (numpy only, no new dependency) are read with
``mmap_mode="r"``, so readers stream data larger than memory and pick only the fields they need
(behaviour cloning reads q/targets/actions; dynamics pretraining reads q/targets; residual
training reads everything). Shards are written to a temporary folder and renamed when complete,
and ``manifest.json`` is rewritten atomically after each shard, so a killed collection loses at
most the shard in progress and ``resume`` continues from the shards listed there.

Per episode (T = 400 control steps), in our joint order and sim angles:

==============  ==========  ===========================================================
field           shape       meaning
==============  ==========  ===========================================================
q               (T+1, 16)   joint positions: q[0] at reset, q[t+1] after step t
targets         (T+1, 16)   joint targets: targets[0] holds the grasp, targets[t+1] = a_t
actions         (T, 16)     policy output at step t (target += action / 24)
obj_pos         (T+1, 3)    object position, hand frame, relative to the grasp centre
obj_quat        (T+1, 4)    object orientation (w, x, y, z), hand frame
axis            (3,)        commanded axis, world frame
wrist           (4,)        wrist orientation (w, x, y, z), world <- hand
object_id       ()          index into the manifest's ``objects``
length          ()          valid control steps (T unless the episode ended in a drop)
==============  ==========  ===========================================================

The generalist's observation at step t is rebuilt from q and targets: the 10 pairs
(q[k], targets[k]) for k = t-9..t (index clamped at 0), then wrist and axis (see ``proprio_obs``).
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexndm_learning.policy.contract import proprio_at_steps as proprio_obs  # noqa: F401  (re-exported)
from dexndm_learning.sim.hand_model import check_hand_version

FIELDS = {
    "q": ("T+1", 16), "targets": ("T+1", 16), "actions": ("T", 16),
    "obj_pos": ("T+1", 3), "obj_quat": ("T+1", 4), "axis": (None, 3), "wrist": (None, 4), "object_id": (None, None),
    "length": (None, None),
}
_INTEGER_FIELDS = ("object_id", "length")
MANIFEST = "manifest.json"
ABSENT_IS_NONE = ("student", "command_model")      # meta keys a collection without them leaves out


class DatasetError(ValueError):
    """A dataset or shard that cannot be read or continued as asked; the message names the folder
    or shard."""


def _shapes(steps: int, n: int) -> dict[str, tuple]:
    out = {}
    for name, (t, d) in FIELDS.items():
        shape = (n,)
        if t is not None:
            shape += (steps + 1 if t == "T+1" else steps,)
        if d is not None:
            shape += (d,)
        out[name] = shape
    return out


class RolloutWriter:
    """Append episodes; every ``shard_episodes`` episodes become one shard on disk."""

    def __init__(self, root: str | Path, steps: int = 400, shard_episodes: int = 256, meta: dict | None = None,
                 resume: bool = False):
        self.root = Path(root)
        self.steps = steps
        self.shard_episodes = shard_episodes
        meta = self._stored(meta or {})
        if (self.root / MANIFEST).exists():
            if not resume:
                raise DatasetError(f"{self.root} already holds a dataset; pass resume=True to continue it")
            self.manifest = json.loads((self.root / MANIFEST).read_text())
            if self.manifest["steps"] != steps:
                raise DatasetError(f"{self.root}: existing dataset has {self.manifest['steps']} steps per episode")
            old_meta = self.manifest.get("meta", {})
            check_hand_version(old_meta.get("hand_version"), meta.get("hand_version", "v1"), f"dataset {self.root}")
            # keys both record, and those whose absence means none (a dataset from before a key
            # was recorded is not refused for lacking it)
            keys = (meta.keys() & old_meta.keys()) | set(ABSENT_IS_NONE)
            if changed := sorted(k for k in keys if meta.get(k) != old_meta.get(k)):
                raise DatasetError(f"{self.root}: the dataset was collected with other "
                                   + ", ".join(f"{k} ({old_meta.get(k)!r}, now {meta.get(k)!r})" for k in changed)
                                   + "; continue it with the same conditions or write a new one")
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            self.manifest = {"format": "dexndm-rollouts-v1", "steps": steps, "shards": [], "meta": meta}
        for stale in self.root.glob("*.partial"):
            shutil.rmtree(stale)
        self._buffer: dict[str, list] = {k: [] for k in FIELDS}

    def _stored(self, meta: dict) -> dict:
        """``meta`` as the manifest stores it (JSON: tuples become lists), or an error naming the
        key that JSON cannot hold, before any episode is collected."""
        for k, v in meta.items():
            try:
                json.dumps(v, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise DatasetError(f"{self.root / MANIFEST}: meta '{k}' = {v!r} cannot be stored ({exc})") from None
        return json.loads(json.dumps(meta))

    @property
    def episodes(self) -> int:
        return sum(s["episodes"] for s in self.manifest["shards"]) + len(self._buffer["q"])

    def add(self, **episode) -> None:
        episode.setdefault("length", self.steps)
        missing = set(FIELDS) - set(episode)
        if missing:
            raise DatasetError(f"episode lacks fields {sorted(missing)}")
        for k in FIELDS:
            self._buffer[k].append(np.asarray(episode[k]))
        if len(self._buffer["q"]) >= self.shard_episodes:
            self.flush()

    def flush(self) -> None:
        n = len(self._buffer["q"])
        if n == 0:
            return
        name = f"shard_{len(self.manifest['shards']):05d}"
        tmp = self.root / f"{name}.partial"
        tmp.mkdir()
        shapes = _shapes(self.steps, n)
        for k in FIELDS:
            arr = np.stack(self._buffer[k]).astype(np.int64 if k in _INTEGER_FIELDS else np.float32)
            if arr.shape != shapes[k]:
                raise DatasetError(f"{name}: field {k} has shape {arr.shape}, expected {shapes[k]}")
            np.save(tmp / f"{k}.npy", arr)
        os.replace(tmp, self.root / name)
        self.manifest["shards"].append({"name": name, "episodes": n})
        tmp_manifest = self.root / (MANIFEST + ".tmp")
        tmp_manifest.write_text(json.dumps(self.manifest, indent=1))
        os.replace(tmp_manifest, self.root / MANIFEST)
        self._buffer = {k: [] for k in FIELDS}

    def close(self) -> None:
        self.flush()


@dataclass
class RolloutDataset:
    root: Path
    manifest: dict

    @classmethod
    def open(cls, root: str | Path) -> "RolloutDataset":
        root = Path(root)
        try:
            manifest = json.loads((root / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(f"{root / MANIFEST}: cannot read the dataset manifest: {exc}") from exc
        return cls(root, manifest)

    @property
    def steps(self) -> int:
        return self.manifest["steps"]

    @property
    def meta(self) -> dict:
        """What the collection recorded: specialist, objects, reality, wrists, axis set."""
        return self.manifest.get("meta", {})

    @property
    def hand_version(self) -> str:
        """The hand version the episodes were simulated on (``v1`` for datasets older than versions)."""
        return self.meta.get("hand_version") or "v1"

    def require_full_episodes(self, purpose: str) -> None:
        if self.meta.get("partial_episodes"):
            raise DatasetError(f"{self.root}: DAgger data (episodes cut at their drop) cannot be used for {purpose}; "
                               "use a dataset of successful specialist episodes")

    @property
    def episodes(self) -> int:
        return sum(s["episodes"] for s in self.manifest["shards"])

    def shard(self, index: int, fields=tuple(FIELDS)) -> dict[str, np.ndarray]:
        """Memory-mapped arrays of one shard; any damage raises DatasetError naming the shard."""
        info = self.manifest["shards"][index]
        path = self.root / info["name"]
        shapes = _shapes(self.steps, info["episodes"])
        out = {}
        for k in fields:
            f = path / f"{k}.npy"
            if k == "length" and not f.exists():                   # written before the field existed
                out[k] = np.full(info["episodes"], self.steps, np.int64)
                continue
            try:
                arr = np.load(f, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise DatasetError(f"shard {path}: field {k} unreadable ({exc})") from exc
            if arr.shape != shapes[k]:
                raise DatasetError(f"shard {path}: field {k} has shape {arr.shape}, manifest says {shapes[k]}")
            out[k] = arr
        return out

    def iter_shards(self, fields=tuple(FIELDS)):
        for i in range(len(self.manifest["shards"])):
            yield self.shard(i, fields)
