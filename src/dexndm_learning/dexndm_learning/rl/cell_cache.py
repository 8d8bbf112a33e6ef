"""Each cell of a long evaluation saved as it finishes, so that a rerun resumes where it stopped.

A Table 1 evaluation is dozens of (wrist, axis set, seed) cells and tens of minutes; a session that
stops half-way keeps the cells it finished. Every cell file records the evaluation's key (a digest
of the policy file or run, the resolved conditions and the settings); a folder holding a cell of
another evaluation is refused before any cell runs, never mixed in or overwritten.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def policy_sha256(policy: Path) -> str:
    """A policy file's digest, or a specialist run's (its checkpoint and config together)."""
    policy = Path(policy)
    if policy.is_dir():
        return hashlib.sha256("".join(file_sha256(policy / f) for f in ("checkpoint.pt", "config.yaml")).encode()).hexdigest()
    return file_sha256(policy)


FORMAT = 1
"""Bumped when what a cell holds or how it is computed changes: older cells are then refused."""


class CellCache:
    """``<folder>/<wrist>__<axes>__s<seed>.json`` per finished cell, each with ``key``."""

    def __init__(self, folder: Path, identity: dict):
        self.folder = Path(folder)
        self.key = hashlib.sha256(json.dumps({"format": FORMAT, **identity}, sort_keys=True, default=str)
                                  .encode()).hexdigest()
        for path in sorted(self.folder.glob("*.json")):
            self._read(path)

    def _path(self, wrist: str, axes: str, seed: int) -> Path:
        return self.folder / f"{wrist}__{axes}__s{seed}.json"

    def _read(self, path: Path) -> dict:
        try:
            cell = json.loads(path.read_text())
            key, result = cell["key"], cell["result"]
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a finished cell ({type(e).__name__}: {e}); remove it to run the cell again")
        if key != self.key:
            raise ValueError(f"{path}: a cell of another evaluation (other policy, conditions or settings); "
                             f"give another --out or remove {self.folder}")
        return result

    def load(self, wrist: str, axes: str, seed: int) -> dict | None:
        path = self._path(wrist, axes, seed)
        return self._read(path) if path.exists() else None

    def save(self, wrist: str, axes: str, seed: int, result: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(wrist, axes, seed)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": self.key, "result": result}))
        os.replace(tmp, path)
