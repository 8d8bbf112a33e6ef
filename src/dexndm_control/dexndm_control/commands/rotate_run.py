"""``dexndm rotate``: compose the "rotate" graph in one process, record, summarize, plot.

Rotation is the object's angular velocity (hand frame, ``/sim/object_twist``) projected on the
commanded axis (world axis rotated into the hand frame by the wrist) and integrated over time;
the object has fallen when its centre of mass is more than 6 cm from where it started (the
training environment's drop test).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState

from dexndm_control.graphs.composition import compose
from dexndm_control.graphs import NodeSpec
from dexndm_control.ros.node_main import running, spin_until
from dexndm_learning import joint_order
from dexndm_learning.sim.wrist import from_wxyz, wrist_quat
from dexndm_msgs.msg import PolicyStatus

DROP_DISTANCE = 0.06   # m, as EnvConfig.drop_distance


def _seconds(stamp) -> float:
    return stamp.sec + 1e-9 * stamp.nanosec


@dataclass
class Recording:
    pose_t: list = field(default_factory=list)
    pose_p: list = field(default_factory=list)
    twist_t: list = field(default_factory=list)
    twist_w: list = field(default_factory=list)
    target_t: list = field(default_factory=list)
    target_q: list = field(default_factory=list)
    status: list = field(default_factory=list)


class RotationRecorder(Node):
    def __init__(self, **kwargs):
        super().__init__("rotation_recorder", **kwargs)
        self.rec = Recording()
        self.create_subscription(PoseStamped, "/sim/object_pose", self._on_pose, 50)
        self.create_subscription(TwistStamped, "/sim/object_twist", self._on_twist, 50)
        self.create_subscription(JointState, "/leap_hand/joint_commands", self._on_target, 50)
        self.create_subscription(PolicyStatus, "/dexndm/policy_status", self.rec.status.append, 50)

    def _on_pose(self, msg: PoseStamped) -> None:
        p = msg.pose.position
        self.rec.pose_t.append(_seconds(msg.header.stamp))
        self.rec.pose_p.append((p.x, p.y, p.z))

    def _on_twist(self, msg: TwistStamped) -> None:
        w = msg.twist.angular
        self.rec.twist_t.append(_seconds(msg.header.stamp))
        self.rec.twist_w.append((w.x, w.y, w.z))

    def _on_target(self, msg: JointState) -> None:
        self.rec.target_t.append(_seconds(msg.header.stamp))
        self.rec.target_q.append(joint_order.reorder_by_names(msg.position, msg.name))


def rotation_angle(t, omega, axis_hand) -> np.ndarray:
    """Cumulative rotation (rad) about ``axis_hand``: trapezoidal integral of omega . axis."""
    t, w = np.asarray(t, float), np.asarray(omega, float).reshape(-1, 3) @ np.asarray(axis_hand, float)
    if len(t) < 2:
        return np.zeros(len(t))
    return np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]) * np.diff(t))])


def time_to_fall(t, pos, distance: float = DROP_DISTANCE) -> float | None:
    """Seconds from the first pose until the object is ``distance`` from its start, or None."""
    pos = np.asarray(pos, float).reshape(-1, 3)
    if len(pos) == 0:
        return None
    far = np.flatnonzero(np.linalg.norm(pos - pos[0], axis=1) > distance)
    return float(t[far[0]] - t[0]) if len(far) else None


def summarize(rec: Recording, axis_hand, duration: float) -> dict:
    ticks = np.array([s.tick_duration_ms for s in rec.status])
    ticks = ticks[np.isfinite(ticks)]
    fall = time_to_fall(rec.pose_t, rec.pose_p)
    angle = rotation_angle(rec.twist_t, rec.twist_w, axis_hand)
    if fall is not None and len(rec.twist_t):   # rotation up to the fall only
        angle = angle[np.asarray(rec.twist_t) <= rec.twist_t[0] + fall]
    return {
        "rotation_rad": float(angle[-1]) if len(angle) else None,
        "time_to_fall_s": fall,
        "status_rate_hz": len(rec.status) / duration,
        "targets_published": len(rec.target_t),
        "missed_ticks": int(rec.status[-1].missed_ticks) if rec.status else 0,
        "tick_ms_p50": float(np.percentile(ticks, 50)) if len(ticks) else None,
        "tick_ms_p99": float(np.percentile(ticks, 99)) if len(ticks) else None,
    }


def plot(rec: Recording, axis_hand, path: Path, title: str, fall: float | None) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = min([*rec.twist_t[:1], *rec.target_t[:1]], default=0.0)
    fig, (ax_rot, ax_q) = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    ax_rot.plot(np.asarray(rec.twist_t) - t0, rotation_angle(rec.twist_t, rec.twist_w, axis_hand))
    if fall is not None:
        ax_rot.axvline(rec.pose_t[0] + fall - t0, color="tab:red", ls="--", label="fell (> 6 cm)")
        ax_rot.legend(loc="upper left")
    ax_rot.set_ylabel("rotation about the axis (rad)")
    q = np.asarray(rec.target_q).reshape(-1, joint_order.NUM_JOINTS)
    for j, name in enumerate(joint_order.JOINT_NAMES):
        ax_q.plot(np.asarray(rec.target_t) - t0, q[:, j], lw=0.8, label=name)
    ax_q.set_ylabel("joint target (rad)")
    ax_q.set_xlabel("time (s)")
    ax_q.legend(ncol=8, fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run(specs: list[NodeSpec], wrist: str, axis, duration: float, out_dir: Path, video: str = "") -> dict:
    """Compose ``specs`` + a recorder, run ``duration`` seconds, write plot and summary; ``video``
    "mp4" or "gif": also a video of the simulated hand (``rotate_video``)."""
    axis_hand = from_wxyz(wrist_quat(wrist)).inv().apply(np.asarray(axis, float) / np.linalg.norm(axis))
    out_dir = Path(out_dir)
    camera = None
    with running(lambda context: [*compose(specs, context), RotationRecorder(context=context)]) as (executor, nodes):
        if video:
            from dexndm_control.commands.rotate_video import SimVideo
            from dexndm_control.sim.sim_object import ObjectHandSim

            sims = [n.sim for n in nodes if isinstance(getattr(n, "sim", None), ObjectHandSim)]
            if not sims:
                raise ValueError("--video needs the simulated hand holding an object (--sim)")
            camera = SimVideo(sims[0])
        end = time.monotonic() + duration
        spin_until(executor, lambda: (camera is not None and camera.capture()) or time.monotonic() >= end)
    rec = nodes[-1].rec
    result = summarize(rec, axis_hand, duration)
    result["plot"] = str(out_dir / "rotate.png")
    if camera is not None:
        t = np.asarray(rec.twist_t) - (rec.twist_t[0] if rec.twist_t else 0.0)
        result["video"] = str(camera.save(out_dir / f"rotate.{video}", t, rotation_angle(rec.twist_t, rec.twist_w, axis_hand),
                                          axis, result["time_to_fall_s"]))
    plot(rec, axis_hand, out_dir / "rotate.png", f"wrist {wrist}, axis {list(axis)} (world)", result["time_to_fall_s"])
    (out_dir / "rotate.json").write_text(json.dumps(result, indent=2))
    return result
