"""Controller input sources: the live Quest 3 (oculus_reader) and recorded streams.

A source's ``get()`` returns the latest :class:`ControllerFrame` or ``None`` when there is no
input (nothing received yet, the stream went stale, or a replay ended).

Recorded streams are JSON lines, one frame per line:
``{"t": seconds, "r": 4x4 | null, "l": 4x4 | null, "buttons": {...}}``, with the poses and
buttons exactly as oculus_reader returns them (analog 1-tuples and joystick pairs as lists).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol

import numpy as np

BOOL_BUTTONS = ("A", "B", "RTr", "RG", "RThU", "RJ", "X", "Y", "LTr", "LG", "LThU", "LJ")
ANALOG = ("rightJS", "leftJS", "rightTrig", "leftTrig", "rightGrip", "leftGrip")


@dataclass
class ControllerFrame:
    """Both controllers' 4x4 poses in the Quest tracking frame (None when not tracked) and the
    buttons dict as oculus_reader returns it. ``t`` is the source's time in seconds."""
    t: float
    right: np.ndarray | None = None
    left: np.ndarray | None = None
    buttons: dict = field(default_factory=dict)

    def pressed(self, name: str) -> bool:
        return bool(self.buttons.get(name, False))

    def analog(self, name: str) -> float:
        """First value of an analog entry (triggers and grips are 1-tuples); 0 when absent."""
        value = self.buttons.get(name)
        return float(value[0]) if value else 0.0

    def to_json(self) -> dict:
        pose = lambda m: None if m is None else np.asarray(m, float).tolist()  # noqa: E731
        buttons = {k: list(v) if isinstance(v, (tuple, list)) else bool(v) for k, v in self.buttons.items()}
        return {"t": float(self.t), "r": pose(self.right), "l": pose(self.left), "buttons": buttons}

    @classmethod
    def from_json(cls, d: dict) -> "ControllerFrame":
        pose = lambda m: None if m is None else np.asarray(m, float).reshape(4, 4)  # noqa: E731
        buttons = {k: tuple(v) if isinstance(v, list) else bool(v) for k, v in d.get("buttons", {}).items()}
        return cls(float(d["t"]), pose(d.get("r")), pose(d.get("l")), buttons)


class InputSource(Protocol):
    def get(self) -> ControllerFrame | None: ...


class OculusReaderSource:
    """Live Quest 3 controllers through oculus_reader (installed from its GitHub repository).

    oculus_reader keeps returning its last data when the headset stops sending and has no
    timestamps; since a hand-held controller always jitters, poses that have not changed at all
    for ``stale_after_s`` are treated as no input.
    """

    def __init__(self, ip_address: str | None = None, stale_after_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic):
        try:
            from oculus_reader.reader import OculusReader
        except ImportError as exc:
            raise ImportError(
                "oculus_reader is not installed (it is not on PyPI): install it from "
                "https://github.com/rail-berkeley/oculus_reader, or set the teleop node's "
                "'replay_file' parameter to play a recorded stream") from exc
        self.reader = OculusReader(ip_address=ip_address or None)
        self.stale_after_s = stale_after_s
        self.clock = clock
        self._last_poses: dict | None = None
        self._changed_at = -np.inf

    def get(self) -> ControllerFrame | None:
        transforms, buttons = self.reader.get_transformations_and_buttons()
        if not transforms:
            return None
        now = self.clock()
        poses = {k: np.asarray(v, float) for k, v in transforms.items()}
        if (self._last_poses is None or poses.keys() != self._last_poses.keys()
                or any(not np.array_equal(poses[k], self._last_poses[k]) for k in poses)):
            self._last_poses, self._changed_at = poses, now
        if now - self._changed_at > self.stale_after_s:
            return None
        return ControllerFrame(now, poses.get("r"), poses.get("l"), dict(buttons or {}))


def read_frames(path: str | Path) -> list[ControllerFrame]:
    lines = Path(path).read_text().splitlines()
    frames = [ControllerFrame.from_json(json.loads(line)) for line in lines if line.strip()]
    if not frames:
        raise ValueError(f"{path}: no controller frames")
    if any(b.t < a.t for a, b in zip(frames, frames[1:])):
        raise ValueError(f"{path}: frame times are not in order")
    return frames


def write_frames(path: str | Path, frames: Iterable[ControllerFrame]) -> int:
    """Write frames as JSON lines; returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w") as f:
        for frame in frames:
            f.write(json.dumps(frame.to_json()) + "\n")
            n += 1
    return n


def record(source: InputSource, path: str | Path, duration_s: float, rate_hz: float = 72.0) -> int:
    """Poll ``source`` for ``duration_s`` and write the frames it gave (``None`` skipped)."""
    def poll():
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            frame = source.get()
            if frame is not None:
                yield frame
            time.sleep(1.0 / rate_hz)
    return write_frames(path, poll())


class ReplaySource:
    """Plays a recorded stream.

    ``realtime=True``: frame times are honoured from the first ``get()`` on; each call returns the
    latest frame due, and ``None`` once the stream has ended (one mean frame interval after the
    last frame). ``realtime=False``: each ``get()`` returns the next frame, ``None`` at the end.
    """

    def __init__(self, path: str | Path, realtime: bool = True, clock: Callable[[], float] = time.monotonic):
        self.frames = read_frames(path)
        self.realtime = realtime
        self.clock = clock
        t = np.array([f.t for f in self.frames])
        self._times = t - t[0]
        self.duration = float(self._times[-1] + (np.mean(np.diff(t)) if len(t) > 1 else 0.0))
        self._start: float | None = None
        self._next = 0

    def get(self) -> ControllerFrame | None:
        if not self.realtime:
            if self._next >= len(self.frames):
                return None
            self._next += 1
            return self.frames[self._next - 1]
        now = self.clock()
        if self._start is None:
            self._start = now
        elapsed = now - self._start
        if elapsed > self.duration:
            return None
        return self.frames[int(np.searchsorted(self._times, elapsed, side="right")) - 1]
