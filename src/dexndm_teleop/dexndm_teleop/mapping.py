"""Quest 3 controllers -> rotation command and arm target (no ROS).

Frames. oculus_reader reports controller poses in the headset frame (head-relative; OpenXR/OVR
convention: x right, y up, z backward, i.e. the wearer looks along -z). ``world_from_headset``
rotates that frame into the world (Franka base, z up); the default assumes the operator looks
along the robot's +x. Being head-relative, the poses also move when the head turns: keep the head
still while steering with a controller. Controller axes (same convention): -z is the pointing axis (out of the
controller's front, where the ray points), x the short axis (across the controller, left to
right; tilting the controller up/down is a rotation about it), y up out of the button face.

Controls.
- Right grip (RG) is the arm clutch: while held, the EE target is the EE pose at the clutch press
  plus ``position_scale`` x the right controller's displacement since the press, and its rotation
  since the press (scaled as a rotation vector by ``orientation_scale``) applied in the world
  frame. Released (or right controller not tracked): the target holds.
- Right trigger (analog ``rightTrig`` >= ``enable_threshold``) is a dead-man switch: held ->
  MODE_ROTATE; released -> MODE_HOLD (the policy keeps the grasp) once the policy has been enabled
  in this session, MODE_OFF before. B -> MODE_OFF (policy disabled, hand holds its last target)
  until the trigger is pressed again. No input at all (``frame is None``) -> MODE_HOLD if enabled
  else MODE_OFF, clutch released.
- Rotation axis. Button mode: X, Y and the left grip (LG) select the configured axes 0, 1, 2; the
  choice latches. Continuous mode: the left controller's pointing axis in the world, with its
  vertical component (what tilting about the short axis changes, controller held level)
  multiplied by ``short_axis_weight`` before normalizing; turning about the vertical is followed
  1:1 and pointing straight up/down still gives +-z. Left controller not tracked: axis kept.
  Pressing the left joystick (LJ) toggles between the two modes; entering button mode restores
  the latched button axis.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from dexndm_teleop.sources import ControllerFrame

# RotationCommand.mode values (dexndm_msgs/RotationCommand.msg).
MODE_OFF, MODE_ROTATE, MODE_HOLD = 0, 1, 2
AXIS_MODES = ("buttons", "continuous")
AXIS_BUTTONS = ("X", "Y", "LG")
POINTING_AXIS = np.array([0.0, 0.0, -1.0])   # in the controller frame


def unit(v, what: str = "vector") -> np.ndarray:
    v = np.asarray(v, dtype=float)
    n = np.linalg.norm(v)
    if v.shape != (3,) or not np.isfinite(n) or n < 1e-9:
        raise ValueError(f"{what} must be 3 finite numbers, not all zero; got {v.tolist()}")
    return v / n


def is_tracked(pose: np.ndarray | None) -> bool:
    """A controller without a pose, or with NaN/inf in it, counts as not tracked."""
    return pose is not None and bool(np.all(np.isfinite(pose)))


def weighted_pointing_axis(world_from_controller: Rotation, short_axis_weight: float) -> np.ndarray:
    p = world_from_controller.apply(POINTING_AXIS)
    return unit([p[0], p[1], short_axis_weight * p[2]], "weighted pointing axis")


@dataclass
class TeleopConfig:
    world_from_headset: Rotation = field(
        default_factory=lambda: Rotation.from_matrix([[0, 0, -1], [-1, 0, 0], [0, 1, 0]]))
    button_axes: np.ndarray = field(
        default_factory=lambda: np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.0, -1.0, 0.0]]))
    short_axis_weight: float = 0.3
    start_axis_mode: str = "buttons"
    position_scale: float = 1.0
    orientation_scale: float = 1.0
    enable_threshold: float = 0.5

    def __post_init__(self):
        axes = np.asarray(self.button_axes, dtype=float).reshape(-1, 3)
        if axes.shape != (3, 3):
            raise ValueError(f"button_axes needs 3 axes (9 numbers), got {axes.size} numbers")
        self.button_axes = np.stack([unit(a, f"button axis {i}") for i, a in enumerate(axes)])
        if self.start_axis_mode not in AXIS_MODES:
            raise ValueError(f"start_axis_mode must be one of {AXIS_MODES}, got '{self.start_axis_mode}'")
        if not 0.0 < self.short_axis_weight <= 1.0:
            raise ValueError(f"short_axis_weight must be in (0, 1], got {self.short_axis_weight}")


@dataclass
class TeleopOutput:
    mode: int
    axis: np.ndarray                                   # unit, world frame
    axis_mode: str
    target_position: np.ndarray | None = None          # EE target, world; None: no target yet
    target_rotation: Rotation | None = None


class QuestMapping:
    """Stateful map from controller frames to commands; call :meth:`update` once per tick."""

    def __init__(self, config: TeleopConfig | None = None):
        self.cfg = config or TeleopConfig()
        self.axis_mode = self.cfg.start_axis_mode
        self.button_choice = 0
        self.axis = self.cfg.button_axes[0].copy()
        self.enabled = False
        self._lj_was_pressed = False
        self._clutch: tuple | None = None   # (controller pose at press, EE position, EE rotation)
        self.target_position: np.ndarray | None = None
        self.target_rotation: Rotation | None = None

    def _world_pose(self, m: np.ndarray) -> tuple[np.ndarray, Rotation]:
        w = self.cfg.world_from_headset
        return w.apply(m[:3, 3]), w * Rotation.from_matrix(m[:3, :3])

    def update(self, frame: ControllerFrame | None, ee_position=None, ee_rotation: Rotation | None = None
               ) -> TeleopOutput:
        """``ee_*``: the arm pose a new clutch starts from (None: unknown, the clutch waits)."""
        if frame is None:
            self._clutch = None
            self._lj_was_pressed = False
        else:
            self._update_axis(frame)
            self._update_arm(frame, ee_position, ee_rotation)
        return TeleopOutput(self._mode(frame), self.axis.copy(), self.axis_mode,
                            None if self.target_position is None else self.target_position.copy(),
                            self.target_rotation)

    def _mode(self, frame: ControllerFrame | None) -> int:
        if frame is not None and frame.pressed("B"):
            self.enabled = False
            return MODE_OFF
        if frame is not None and frame.analog("rightTrig") >= self.cfg.enable_threshold:
            self.enabled = True
            return MODE_ROTATE
        return MODE_HOLD if self.enabled else MODE_OFF

    def _update_axis(self, frame: ControllerFrame) -> None:
        if frame.pressed("LJ") and not self._lj_was_pressed:
            self.axis_mode = "continuous" if self.axis_mode == "buttons" else "buttons"
        self._lj_was_pressed = frame.pressed("LJ")
        if self.axis_mode == "buttons":
            for i, name in enumerate(AXIS_BUTTONS):
                if frame.pressed(name):
                    self.button_choice = i
                    break
            self.axis = self.cfg.button_axes[self.button_choice].copy()
        elif is_tracked(frame.left):
            _, rot = self._world_pose(frame.left)
            self.axis = weighted_pointing_axis(rot, self.cfg.short_axis_weight)

    def _update_arm(self, frame: ControllerFrame, ee_position, ee_rotation: Rotation | None) -> None:
        if not frame.pressed("RG") or not is_tracked(frame.right):
            self._clutch = None
            return
        if self._clutch is None:
            if ee_position is None or ee_rotation is None:
                return
            self._clutch = (self._world_pose(frame.right), np.asarray(ee_position, float).copy(), ee_rotation)
        (c0_pos, c0_rot), ee0_pos, ee0_rot = self._clutch
        c_pos, c_rot = self._world_pose(frame.right)
        turn = Rotation.from_rotvec(self.cfg.orientation_scale * (c_rot * c0_rot.inv()).as_rotvec())
        self.target_position = ee0_pos + self.cfg.position_scale * (c_pos - c0_pos)
        self.target_rotation = turn * ee0_rot
