"""What a resumable study needs (phases that a rerun skips or continues): its settings locked to
its folder, wall time per phase summed over reruns, JSON written atomically, and a preset with
the command line's overrides. Used by the NDM generalization study and the sim-to-sim pipeline.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, TypeVar

import yaml

T = TypeVar("T")


class SettingsMismatch(ValueError):
    """The folder holds a study with other settings: continuing it would mix their data."""


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` as JSON through a temporary file, so a reader never sees half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def lock_settings(path: Path, settings: dict, what: str, option: str) -> None:
    """The first run writes ``settings`` to ``path`` (YAML); a later run with other settings is
    refused with the differing keys (dotted), so one folder never mixes two studies' data."""
    path = Path(path)
    settings = json.loads(json.dumps(settings))          # tuples -> lists, as YAML gives them back
    if path.exists():
        saved = yaml.safe_load(path.read_text()) or {}
        if saved != settings:
            a, b = _flatten(saved), _flatten(settings)
            diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            raise SettingsMismatch(f"{path.parent} holds a {what} with other settings ({diff}); use another {option}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings, sort_keys=False, default_flow_style=None))


class PhaseTimer:
    """``with timer.phase(name):`` prints the phase and adds its wall seconds to a JSON file, summed
    over reruns (also when the phase fails or is interrupted)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def read(self) -> dict[str, float]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        try:
            yield
        finally:
            timings = self.read()
            timings[name] = round(timings.get(name, 0.0) + time.monotonic() - t0, 1)
            write_json(self.path, timings)


def from_preset(presets: dict[str, T], name: str, **overrides) -> T:
    """Preset ``name`` with the given overrides (None: keep the preset's value)."""
    if name not in presets:
        raise ValueError(f"no preset '{name}'; valid: {sorted(presets)}")
    return dataclasses.replace(presets[name], **{k: v for k, v in overrides.items() if v is not None})
