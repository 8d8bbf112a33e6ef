"""Synthetic data for tests and benchmarks: known linear joint dynamics and rosbag2 bags.

``linear_steps`` rolls out ``q_{t+1} = q_t + gain (a_t - q_t) (+ noise)`` under smooth random
targets.
``BagBuilder`` writes bags the way the recorder would (rosbags ``Writer``, sqlite3 or mcap):
JointState states and commands, and TrajectoryMarker messages.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from dexndm_learning.joint_order import JOINT_NAMES, LOWER, NUM_JOINTS, UPPER
from dexndm_learning.ndm.bag_ingest import (JOINT_STATE_TYPE, MARKER_TYPE, IngestConfig,
                                            marker_definition)
from dexndm_learning.ndm.steps import Steps


def linear_steps(n_segments: int, length: int, gain: float = 0.3, seed: int = 0,
                 noise: float = 0.0) -> Steps:
    """Segments of ``length`` steps of first-order tracking of random smooth targets, with
    Gaussian process noise of std ``noise`` (rad) added to every step."""
    rng = np.random.default_rng(seed)
    mid, half = (LOWER + UPPER) / 2, (UPPER - LOWER) / 2
    qs, targets = [], []
    for _ in range(n_segments):
        # targets: random walk of random-walk velocities, kept inside 80 % of the joint range
        vel = np.cumsum(rng.normal(0, 0.02, (length, NUM_JOINTS)), axis=0)
        a = mid + 0.8 * half * np.tanh(np.cumsum(vel, axis=0) * 0.1 + rng.normal(0, 1, NUM_JOINTS))
        q = np.empty_like(a)
        q[0] = a[0] + rng.normal(0, 0.1, NUM_JOINTS)
        for t in range(length - 1):
            q[t + 1] = q[t] + gain * (a[t] - q[t]) + rng.normal(0, noise, NUM_JOINTS)
        qs.append(q)
        targets.append(a)
    return Steps(np.concatenate(qs), np.concatenate(targets), np.repeat(np.arange(n_segments), length))


class BagBuilder:
    """Collects (topic, log time, message) and writes them as one rosbag2 bag."""

    def __init__(self):
        self.typestore = get_typestore(Stores.LATEST)
        self.typestore.register(get_types_from_msg(marker_definition(), MARKER_TYPE))
        self.messages: list[tuple[str, str, int, bytes]] = []

    def _stamp(self, t_ns: int):
        Time = self.typestore.types["builtin_interfaces/msg/Time"]
        return Time(sec=int(t_ns // 1_000_000_000), nanosec=int(t_ns % 1_000_000_000))

    def joint_state(self, topic: str, t_ns: int, position, names=JOINT_NAMES,
                    stamp_ns: int | None = None, frame_id: str = "palm") -> None:
        """A JointState logged at ``t_ns`` (header stamp ``stamp_ns``, default the same)."""
        ts = self.typestore.types
        position = np.asarray(position, dtype=np.float64)
        msg = ts[JOINT_STATE_TYPE](
            header=ts["std_msgs/msg/Header"](stamp=self._stamp(t_ns if stamp_ns is None else stamp_ns),
                                             frame_id=frame_id),
            name=list(names), position=position, velocity=np.zeros(len(position)),
            effort=np.zeros(len(position)))
        self.messages.append((topic, JOINT_STATE_TYPE, int(t_ns),
                              bytes(self.typestore.serialize_cdr(msg, JOINT_STATE_TYPE))))

    def marker(self, topic: str, t_ns: int, event: int, trajectory_index: int) -> None:
        ts = self.typestore.types
        msg = ts[MARKER_TYPE](header=ts["std_msgs/msg/Header"](stamp=self._stamp(t_ns), frame_id=""),
                              trajectory_index=trajectory_index, event=event, noisy=False,
                              noise_sigma=0.0, wrist="palm_up")
        self.messages.append((topic, MARKER_TYPE, int(t_ns),
                              bytes(self.typestore.serialize_cdr(msg, MARKER_TYPE))))

    def control_run(self, q, a, t0_ns: int, cfg: IngestConfig = IngestConfig(),
                    states_per_step: int = 5, lead_ns: int = 2_000_000) -> int:
        """Commands ``a[k]`` at ``t0 + k period``; states every ``period / states_per_step``
        such that the last state before command k (``lead_ns`` earlier) carries ``q[k]`` and
        the ones in between interpolate. Returns the time of the step after the run."""
        period = int(round(cfg.control_period * 1e9))
        q, a = np.asarray(q), np.asarray(a)
        for k in range(len(a)):
            t = t0_ns + k * period
            for j in range(states_per_step):
                s = k + j / states_per_step
                lo = min(int(s), len(q) - 1)
                hi = min(lo + 1, len(q) - 1)
                self.joint_state(cfg.state_topic, t - lead_ns + j * period // states_per_step,
                                 q[lo] + (s - int(s)) * (q[hi] - q[lo]))
            self.joint_state(cfg.command_topic, t, a[k])
        return t0_ns + len(a) * period

    def write(self, path: str | Path, storage: str = "mcap") -> Path:
        path = Path(path)
        with Writer(path, version=9, storage_plugin=StoragePlugin[storage.upper()]) as writer:
            conns = {}
            for topic, msgtype, t_ns, data in sorted(self.messages, key=lambda m: m[2]):
                if topic not in conns:
                    conns[topic] = writer.add_connection(topic, msgtype, typestore=self.typestore)
                writer.write(conns[topic], t_ns, data)
        return path
