"""The hand as Foxglove sees it, without ROS: frame transforms from the joint positions, the
collision shapes as scene entities, the held object and the commanded rotation axis, and JSON
channels for joint states, targets and the policy's status (issue 24).

The shapes and frames come from the MuJoCo model every policy trains on (``viz.hand_frames``):
frame names are its body names, the links of the generated URDF. The object pose arrives in H
(the simulated hand's ``/sim/object_pose``); the rotation axis in the world frame, drawn as an
arrow from the palm's centre.

``LiveView(port=...)`` serves over WebSocket (``foxglove.start_server``, localhost by default) and
can also write MCAP (``mcap_path``) with the same channels, so a recording opens with the same
scene. Channels: ``/tf`` (FrameTransforms), ``/scene`` (SceneUpdate: hand, object, axis),
``/leap_hand/joint_states``, ``/leap_hand/joint_targets``, ``/dexndm/policy_status`` (JSON).
"""
from __future__ import annotations

import time
from pathlib import Path

import foxglove
import mujoco
import numpy as np
from foxglove.channels import FrameTransformsChannel, SceneUpdateChannel
from foxglove.messages import (ArrowPrimitive, Color, CubePrimitive, CylinderPrimitive, FrameTransform,
                               FrameTransforms, Pose, Quaternion, SceneEntity, SceneUpdate, SpherePrimitive, Timestamp,
                               Vector3)

from dexndm_control.viz.hand_frames import HandFrames
from dexndm_learning import joint_order

TOPICS = {"tf": "/tf", "scene": "/scene", "joint_states": "/leap_hand/joint_states",
          "joint_targets": "/leap_hand/joint_targets", "policy_status": "/dexndm/policy_status"}
HAND_COLOR = Color(r=0.55, g=0.57, b=0.6, a=1.0)
TIP_COLOR = Color(r=0.95, g=0.6, b=0.2, a=1.0)
OBJECT_COLOR = Color(r=0.2, g=0.5, b=0.9, a=0.8)
AXIS_COLOR = Color(r=0.9, g=0.15, b=0.15, a=1.0)


def _vec(v) -> Vector3:
    return Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def _quat(wxyz) -> Quaternion:
    return Quaternion(x=float(wxyz[1]), y=float(wxyz[2]), z=float(wxyz[3]), w=float(wxyz[0]))


def _pose(pos, wxyz) -> Pose:
    return Pose(position=_vec(pos), orientation=_quat(wxyz))


def _arrow_quat(direction) -> np.ndarray:
    """(w, x, y, z) turning +x onto ``direction``."""
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    x = np.array([1.0, 0.0, 0.0])
    c = np.cross(x, d)
    if np.linalg.norm(c) < 1e-9:
        return np.array([1.0, 0, 0, 0]) if d[0] > 0 else np.array([0.0, 0, 0, 1])
    q = np.array([1.0 + float(x @ d), *c])
    return q / np.linalg.norm(q)


def hand_entities(model: mujoco.MjModel) -> list[SceneEntity]:
    """One frame-locked entity per body with its collision shapes."""
    m, entities = model, []
    for b in range(1, m.nbody):
        cubes, cylinders, spheres = [], [], []
        for g in np.flatnonzero(m.geom_bodyid == b):
            kind, size, pose = m.geom_type[g], m.geom_size[g], _pose(m.geom_pos[g], m.geom_quat[g])
            color = TIP_COLOR if "tip" in (m.geom(g).name or "") else HAND_COLOR
            if kind == mujoco.mjtGeom.mjGEOM_BOX:
                cubes.append(CubePrimitive(pose=pose, size=_vec(2 * size), color=color))
            elif kind in (mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER):
                full = 2 * size[1] + (2 * size[0] if kind == mujoco.mjtGeom.mjGEOM_CAPSULE else 0.0)
                cylinders.append(CylinderPrimitive(pose=pose, size=_vec([2 * size[0], 2 * size[0], full]),
                                                   bottom_scale=1.0, top_scale=1.0, color=color))
            elif kind in (mujoco.mjtGeom.mjGEOM_SPHERE, mujoco.mjtGeom.mjGEOM_ELLIPSOID):
                radii = size if kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID else [size[0]] * 3
                spheres.append(SpherePrimitive(pose=pose, size=_vec(2 * np.asarray(radii)), color=color))
        if cubes or cylinders or spheres:
            entities.append(SceneEntity(frame_id=m.body(b).name, id=f"hand/{m.body(b).name}", frame_locked=True,
                                        cubes=cubes, cylinders=cylinders, spheres=spheres))
    return entities


class LiveView:
    """The Foxglove channels of the hand, served over WebSocket (``port``; 0 = any free one;
    None = no server) and/or written to MCAP (``mcap_path``)."""

    def __init__(self, port: int | None = 8765, host: str = "127.0.0.1", mcap_path: str | Path | None = None,
                 hand_config: str = "hand", wrist: str = "palm_up", object_size=(0.03, 0.03, 0.08)):
        self.frames = HandFrames(hand_config, wrist)
        self._hand = hand_entities(self.frames.model)     # the shapes never change: built once
        self.context = foxglove.Context()
        self.server = (foxglove.start_server(name="dexndm", host=host, port=port, context=self.context)
                       if port is not None else None)
        self.mcap = (foxglove.open_mcap(str(mcap_path), allow_overwrite=True, context=self.context)
                     if mcap_path else None)
        ctx = self.context
        self.tf = FrameTransformsChannel(TOPICS["tf"], context=ctx)
        self.scene = SceneUpdateChannel(TOPICS["scene"], context=ctx)
        self.json = {k: foxglove.Channel(TOPICS[k], message_encoding="json", context=ctx)
                     for k in ("joint_states", "joint_targets", "policy_status")}
        self.object_size = np.asarray(object_size, float)
        self.object_pose: tuple[np.ndarray, np.ndarray] | None = None
        self.axis: np.ndarray | None = None
        self.wrist: np.ndarray | None = None      # world <- H (w, x, y, z) from a wrist topic; None: the fixed wrist
        self.q: np.ndarray | None = None

    @property
    def port(self) -> int | None:
        return None if self.server is None else self.server.port

    # ------------------------------------------------------------------ inputs
    def joint_states(self, q, stamp_ns: int | None = None) -> None:
        """Measured positions (MJ order): transforms and the joint-state channel."""
        stamp_ns = time.time_ns() if stamp_ns is None else stamp_ns
        self.q = np.asarray(q, float)
        ts = Timestamp(sec=stamp_ns // 1_000_000_000, nsec=stamp_ns % 1_000_000_000)
        poses = [(parent, child, pos, self.wrist if parent == "world" and self.wrist is not None else quat)
                 for parent, child, pos, quat in self.frames.poses(self.q)]
        self.tf.log(FrameTransforms(transforms=[
            FrameTransform(timestamp=ts, parent_frame_id=parent, child_frame_id=child, translation=_vec(pos),
                           rotation=_quat(quat)) for parent, child, pos, quat in poses]), log_time=stamp_ns)
        self.json["joint_states"].log({"name": list(joint_order.JOINT_NAMES), "position": self.q.tolist()},
                                      log_time=stamp_ns)

    def joint_targets(self, targets, stamp_ns: int | None = None) -> None:
        self.json["joint_targets"].log({"name": list(joint_order.JOINT_NAMES),
                                        "position": np.asarray(targets, float).tolist()},
                                       log_time=time.time_ns() if stamp_ns is None else stamp_ns)

    def policy_status(self, status: dict, stamp_ns: int | None = None) -> None:
        self.json["policy_status"].log(status, log_time=time.time_ns() if stamp_ns is None else stamp_ns)

    def set_object_pose(self, pos, quat_wxyz) -> None:
        """The held object's pose in the hand frame H (``mount``)."""
        self.object_pose = (np.asarray(pos, float), np.asarray(quat_wxyz, float))

    def set_wrist(self, quat_wxyz) -> None:
        """The hand frame's orientation in the world (w, x, y, z), e.g. from the arm; replaces the fixed wrist."""
        q = np.asarray(quat_wxyz, float)
        if q.shape != (4,) or not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-9:
            raise ValueError(f"wrist quaternion must be 4 finite numbers, not all zero; got {q}")
        self.wrist = q / np.linalg.norm(q)

    def set_axis(self, axis) -> None:
        """The commanded rotation axis, world frame."""
        a = np.asarray(axis, float)
        self.axis = a / np.linalg.norm(a) if np.linalg.norm(a) > 1e-9 else None

    def publish_scene(self, stamp_ns: int | None = None) -> None:
        """Hand shapes, object and axis; sent periodically so a client that joins later sees them."""
        stamp_ns = time.time_ns() if stamp_ns is None else stamp_ns
        entities = list(self._hand)
        if self.object_pose is not None:
            pos, q = self.object_pose
            entities.append(SceneEntity(frame_id="mount", id="object", cylinders=[CylinderPrimitive(
                pose=_pose(pos, q), size=_vec(self.object_size), bottom_scale=1.0, top_scale=1.0, color=OBJECT_COLOR)]))
        if self.axis is not None:
            entities.append(SceneEntity(frame_id="world", id="rotation_axis", arrows=[ArrowPrimitive(
                pose=_pose(self.frames.palm_centre(), _arrow_quat(self.axis)), shaft_length=0.12, shaft_diameter=0.006,
                head_length=0.03, head_diameter=0.015, color=AXIS_COLOR)]))
        self.scene.log(SceneUpdate(entities=entities), log_time=stamp_ns)

    def close(self) -> None:
        if self.mcap is not None:
            self.mcap.close()
        if self.server is not None:
            self.server.stop()
