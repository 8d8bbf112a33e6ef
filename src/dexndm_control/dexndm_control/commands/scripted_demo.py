"""The first main job: the simulated hand driven through open, close and a finger gait.

A commander node publishes 20 Hz joint targets to the simulated hand node over ROS 2 topics
(both composed in one process with an rclpy executor), records what it commanded and what the
hand measured, and saves a plot of commanded vs measured joint angles.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState

from dexndm_control.runtime.joint_state_io import make_joint_state
from dexndm_control.ros.node_main import running, spin_until
from dexndm_control.ros.params import node_parameters
from dexndm_control.nodes.sim_hand_node import SimHandNode
from dexndm_learning import joint_order



def scripted_targets(t: float) -> np.ndarray:
    """Open (0-1 s), close to a grasp (1-2.5 s), finger gait (2.5-5.5 s), open (5.5-6.5 s)."""
    closed = joint_order.clip_to_limits(joint_order.CANONICAL_GRASP + 0.3 * joint_order.FLEXION_JOINTS, margin=0.05)

    def blend(a, b, s):
        s = float(np.clip(s, 0.0, 1.0))
        s = s * s * (3 - 2 * s)   # smoothstep
        return (1 - s) * a + s * b

    if t < 1.0:
        q = joint_order.OPEN_POSE
    elif t < 2.5:
        q = blend(joint_order.OPEN_POSE, closed, (t - 1.0) / 1.0)
    elif t < 5.5:
        phase = np.repeat([0.0, 0.5 * np.pi, np.pi, 1.5 * np.pi], 4)
        ramp = min(1.0, (t - 2.5) / 0.5)   # fade the gait in from the closed pose
        q = closed - ramp * 0.35 * joint_order.FLEXION_JOINTS * 0.5 * (1 - np.cos(2 * np.pi * 1.0 * (t - 2.5) + phase))
    elif t < 6.5:
        q = blend(closed, joint_order.OPEN_POSE, (t - 5.5) / 0.8)
    else:
        q = joint_order.OPEN_POSE
    return joint_order.clip_to_limits(q)


SEQUENCE_DURATION = 7.0


@dataclass
class Recording:
    command_t: list = field(default_factory=list)
    command_q: list = field(default_factory=list)
    state_t: list = field(default_factory=list)
    state_q: list = field(default_factory=list)


class ScriptedCommander(Node):
    def __init__(self, targets_fn=scripted_targets, rate_hz: float = 20.0,
                 command_topic="/leap_hand/joint_commands", state_topic="/leap_hand/joint_states", **kwargs):
        super().__init__("scripted_commander", **kwargs)
        self.targets_fn = targets_fn
        self.rec = Recording()
        self.pub = self.create_publisher(JointState, command_topic, 10)
        self.create_subscription(JointState, state_topic, self._on_state, 50)
        self.t0 = time.monotonic()
        self.create_timer(1.0 / rate_hz, self._tick)

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def _tick(self) -> None:
        t = self.elapsed()
        q = self.targets_fn(t)
        self.pub.publish(make_joint_state(self.get_clock().now().to_msg(), q))
        self.rec.command_t.append(t)
        self.rec.command_q.append(q)

    def _on_state(self, msg: JointState) -> None:
        self.rec.state_t.append(self.elapsed())
        self.rec.state_q.append(np.asarray(msg.position))


def plot_tracking(rec: Recording, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ct, cq = np.asarray(rec.command_t), np.asarray(rec.command_q)
    st, sq = np.asarray(rec.state_t), np.asarray(rec.state_q)
    fig, axes = plt.subplots(4, 4, figsize=(16, 11), sharex=True)
    for j, ax in enumerate(axes.T.flat):   # one finger per column
        ax.step(ct, cq[:, j], where="post", label="commanded", color="tab:orange")
        ax.plot(st, sq[:, j], label="measured", color="tab:blue", lw=1)
        ax.axhline(joint_order.LOWER[j], color="0.7", lw=0.5, ls="--")
        ax.axhline(joint_order.UPPER[j], color="0.7", lw=0.5, ls="--")
        ax.set_title(joint_order.JOINT_NAMES[j])
    axes[0, 0].legend(loc="upper left")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("angle (rad)")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def tracking_error(rec: Recording, lag_s: float = 0.25) -> float:
    """Mean |measured - commanded| with the command delayed by ``lag_s`` (the PD response)."""
    ct, cq = np.asarray(rec.command_t), np.asarray(rec.command_q)
    st, sq = np.asarray(rec.state_t), np.asarray(rec.state_q)
    idx = np.searchsorted(ct, st - lag_s, side="right") - 1
    ok = idx >= 0
    return float(np.mean(np.abs(sq[ok] - cq[idx[ok]])))


def run(out_dir: Path, wrist: str = "palm_up", duration: float = SEQUENCE_DURATION) -> dict:
    """Compose sim hand + commander in one process, run the sequence, save the plot."""
    def make(context):
        return [SimHandNode(context=context, parameter_overrides=node_parameters("sim_hand", {"wrist": wrist})),
                ScriptedCommander(context=context)]

    with running(make) as (executor, (hand, commander)):
        spin_until(executor, lambda: commander.elapsed() >= duration)
    rec = commander.rec
    plot_path = Path(out_dir) / "commanded_vs_measured.png"
    plot_tracking(rec, plot_path, f"Simulated LEAP Hand ({wrist}): commanded vs measured")
    return {
        "plot": str(plot_path),
        "commands": len(rec.command_t),
        "states": len(rec.state_t),
        "state_rate_hz": len(rec.state_t) / duration,
        "mean_tracking_error_rad": tracking_error(rec),
        "rejected_commands": hand.rejected_commands,
    }
