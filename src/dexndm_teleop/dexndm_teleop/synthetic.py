"""Synthetic Quest 3 controller streams for tests and demos.

``demo_frames()`` scripts one pass through every control (times in seconds, headset frame:
x right, y up, -z forward; both controllers start level, pointing forward):

- 0.0-0.5  idle.
- 0.5-1.5  right grip (clutch) held; the right controller moves 0.10 m forward and 0.05 m up and
           turns 30 deg to the left (about y).
- 1.5-2.0  clutch released; the right controller goes back to its rest pose (target holds).
- 2.0-5.0  right trigger held (rotate). Button axis mode: X 2.2-2.4, Y 2.8-3.0, LG 3.4-3.6.
- 4.0-4.1  left joystick pressed (to continuous axis mode); 4.0-5.0 the left controller tilts
           40 deg up (about its short axis x) and turns 45 deg left.
- 5.0-5.5  trigger released (hold).  5.5-6.0  B held (off).

Run ``python -m dexndm_teleop.synthetic OUT.jsonl`` to write it as a replay file.
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy.spatial.transform import Rotation

from dexndm_teleop.sources import ANALOG, BOOL_BUTTONS, ControllerFrame, write_frames

RIGHT_REST = np.array([0.2, -0.3, -0.4])
LEFT_REST = np.array([-0.2, -0.3, -0.4])
CLUTCH_MOVE = np.array([0.0, 0.05, -0.10])   # headset frame: 0.10 m forward, 0.05 m up
CLUTCH_TURN_DEG = 30.0
LEFT_TILT_DEG, LEFT_TURN_DEG = 40.0, 45.0
DURATION = 6.0


def controller_pose(position=(0.0, 0.0, 0.0), rotation: Rotation | None = None) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = position
    if rotation is not None:
        m[:3, :3] = rotation.as_matrix()
    return m


def make_frame(t: float, right: np.ndarray | None, left: np.ndarray | None,
               pressed: tuple[str, ...] = (), right_trigger: float = 0.0) -> ControllerFrame:
    """A frame with a complete oculus_reader-style buttons dict."""
    buttons = {name: name in pressed for name in BOOL_BUTTONS}
    buttons.update({name: (0.0, 0.0) if name.endswith("JS") else (0.0,) for name in ANALOG})
    buttons["rightTrig"] = (right_trigger,)
    buttons["RTr"] = right_trigger >= 0.5
    buttons["rightGrip"] = (1.0 if "RG" in pressed else 0.0,)
    buttons["leftGrip"] = (1.0 if "LG" in pressed else 0.0,)
    return ControllerFrame(t, right, left, buttons)


def _ramp(t: float, t0: float, t1: float) -> float:
    return float(np.clip((t - t0) / (t1 - t0), 0.0, 1.0))


def left_rotation(tilt_deg: float, turn_deg: float) -> Rotation:
    """Turn left about the vertical (y), then tilt up about the controller's short axis (x)."""
    return Rotation.from_euler("YX", [turn_deg, tilt_deg], degrees=True)


def demo_frames(rate_hz: float = 50.0) -> list[ControllerFrame]:
    frames = []
    for t in np.arange(0.0, DURATION, 1.0 / rate_hz):
        t = round(float(t), 6)
        pressed = []
        if 0.5 <= t < 1.5:
            pressed.append("RG")
        s = _ramp(t, 0.5, 1.5) - _ramp(t, 1.5, 2.0)   # out during the clutch, back after it
        right = controller_pose(RIGHT_REST + s * CLUTCH_MOVE,
                                Rotation.from_euler("y", s * CLUTCH_TURN_DEG, degrees=True))
        for name, (t0, t1) in (("X", (2.2, 2.4)), ("Y", (2.8, 3.0)), ("LG", (3.4, 3.6)),
                               ("LJ", (4.0, 4.1)), ("B", (5.5, 6.0))):
            if t0 <= t < t1:
                pressed.append(name)
        u = _ramp(t, 4.0, 5.0)
        left = controller_pose(LEFT_REST, left_rotation(u * LEFT_TILT_DEG, u * LEFT_TURN_DEG))
        trigger = 1.0 if 2.0 <= t < 5.0 else 0.0
        frames.append(make_frame(t, right, left, tuple(pressed), trigger))
    return frames


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Write the synthetic Quest 3 demo stream (JSON lines).")
    ap.add_argument("out", help="output .jsonl path")
    ap.add_argument("--rate", type=float, default=50.0, help="frames per second")
    args = ap.parse_args(argv)
    n = write_frames(args.out, demo_frames(args.rate))
    print(f"wrote {n} frames ({DURATION:g} s) to {args.out}")


if __name__ == "__main__":
    main()
