"""Chaos Box bag recorder: ``ros2 bag record`` for a venv without rosbag2, whole trajectories only
(or, with ``marker_topic`` empty, everything as it arrives: ``dexndm rotate --record``).

Subscribes to ``topics`` (types ``types``) with ``raw=True`` and writes the serialized messages to
rosbag2 bags (``storage``: mcap or sqlite3, metadata version 9) with ``rosbags``; definitions of
our own messages (``TrajectoryMarker``) are registered so the bags carry them. The log time of a
message is the node's clock at arrival, as ``ros2 bag record`` stamps them; with ``use_sim_time``
(``ros2 bag record --use-sim-time``) that is the simulated hand's ``/clock``, so bags of a slowed
simulation still have 20 Hz command spacing.

Messages are buffered and written one trajectory at a time, when its END marker arrives on
``marker_topic``, with the ``preroll_s`` before its START (the state that precedes the first
command); messages of a trajectory that is aborted or never ends are dropped. Every
``trajectories_per_bag`` trajectories the bag is closed and listed in ``out_dir``'s progress file
(``chaos_progress.py``) and the next bag opens with the next trajectory. Destroying the node
closes the open bag, so a collection stopped cleanly loses only the trajectory in progress; after a
hard kill the unclosed bag is discarded when the recorder starts again.

With ``scene`` each bag also carries the hand, so Foxglove (or RViz) plays it back with the robot
shown: ``/robot_description`` (the generated URDF, ``dexndm_learning.sim.urdf``, as
``std_msgs/String`` at the bag's first message) and ``/tf`` (``tf2_msgs/TFMessage``: the hand's
frames, ``viz.hand_frames``, for every message on ``scene_state_topic``, at its log time). The
ingest reads only its own topics, so the extra ones cost it nothing.
"""
from __future__ import annotations

import importlib
from collections import deque
from functools import partial

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from dexndm_control.chaos_box.chaos_progress import CollectionProgress
from dexndm_control.ros.node_main import FatalNodeError, spin
from dexndm_control.ros.params import declare_from_file
from dexndm_control.viz.hand_frames import HandFrames
from dexndm_learning import joint_order
from dexndm_learning.ndm.bag_ingest import MARKER_TYPE, marker_definition
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.urdf import hand_urdf
from dexndm_msgs.msg import TrajectoryMarker

QUEUE_DEPTH = 1000     # per topic: nothing is dropped while a bag is being written
SCENE_TYPES = {"/robot_description": "std_msgs/msg/String", "/tf": "tf2_msgs/msg/TFMessage"}
STATE_TYPE = "sensor_msgs/msg/JointState"


def message_class(msgtype: str):
    """'sensor_msgs/msg/JointState' -> the rclpy message class."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


class BagRecorder(Node):
    def __init__(self, node_name: str = "bag_recorder", **kwargs):
        super().__init__(node_name, **kwargs)
        declare_from_file(self, "bag_recorder", "bag_recorder.yaml")
        p = lambda name: self.get_parameter(name).value  # noqa: E731

        topics, types = list(p("topics")), list(p("types"))
        if len(topics) != len(types):
            raise ValueError(f"{len(topics)} topics but {len(types)} types")
        self.marker_topic = p("marker_topic")
        self.continuous = not self.marker_topic      # no trajectories: every message as it arrives, one bag
        if not self.continuous and self.marker_topic not in topics:
            raise ValueError(f"marker_topic {self.marker_topic} is not among the recorded topics {topics}")
        self.types = dict(zip(topics, types))
        self.per_bag = int(p("trajectories_per_bag"))
        self.storage = StoragePlugin[str(p("storage")).upper()]
        self.preroll_ns = int(float(p("preroll_s")) * 1e9)
        self.progress = CollectionProgress(p("out_dir"))
        for stale in self.progress.discard_incomplete():
            self.get_logger().warning(f"discarded incomplete bag {stale}")
        self.typestore = get_typestore(Stores.LATEST)
        self.typestore.register(get_types_from_msg(marker_definition(), MARKER_TYPE))
        self.scene_topic = p("scene_state_topic") if p("scene") else None
        if self.scene_topic is not None:
            if self.types.get(self.scene_topic) != STATE_TYPE:
                raise ValueError(f"scene_state_topic {self.scene_topic} is not a recorded {STATE_TYPE} topic")
            self.frames = HandFrames(p("hand_config"), p("scene_wrist"))
            self.urdf = hand_urdf(HandConfig.load(p("hand_config")))

        self._buffer: deque[tuple[str, int, bytes]] = deque()
        self._open: int | None = None             # index of the trajectory being buffered
        self._writer: Writer | None = None
        self._connections: dict = {}
        self._bag_name = ""
        self._in_bag: list[int] = []
        self.last_written: int | None = None      # index of the last trajectory written to a bag
        for topic, msgtype in self.types.items():
            self.create_subscription(message_class(msgtype), topic, partial(self._on_message, topic),
                                     QoSProfile(depth=QUEUE_DEPTH), raw=True)
        self.get_logger().info(f"recording {topics} to {self.progress.root}, {self.per_bag} trajectories per bag")

    def _on_message(self, topic: str, raw: bytes) -> None:
        now = self.get_clock().now().nanoseconds
        if now == 0:
            return          # use_sim_time and no /clock yet: no time to log it at
        self._buffer.append((topic, now, raw))
        if self.continuous:
            self._write_buffer()
            return
        if topic == self.marker_topic:
            self._on_marker(self.typestore.deserialize_cdr(raw, MARKER_TYPE))
        elif self._open is None:
            while self._buffer[0][1] < now - self.preroll_ns:
                self._buffer.popleft()

    def _on_marker(self, marker) -> None:
        if marker.event == TrajectoryMarker.EVENT_START:
            self._open = marker.trajectory_index
        elif marker.event == TrajectoryMarker.EVENT_END and marker.trajectory_index == self._open:
            self._write_trajectory()
        else:       # ABORT, or an END without its START: not a whole trajectory
            self.get_logger().warning(f"trajectory {marker.trajectory_index} incomplete, not recorded")
            self._open = None
            self._buffer.clear()

    def _write_buffer(self) -> None:
        try:
            if self._writer is None:
                self._open_bag()
            for topic, t, raw in self._buffer:
                self._writer.write(self._connections[topic], t, raw)
                if topic == self.scene_topic:
                    self._write_tf(t, raw)
        except OSError as exc:                   # a full disk (ENOSPC), a lost mount
            self._abandon_bag(exc, [*self._in_bag] + ([] if self._open is None else [self._open]))
        self._buffer.clear()

    def _write_trajectory(self) -> None:
        self._write_buffer()
        self._in_bag.append(self._open)
        self.last_written, self._open = self._open, None
        if len(self._in_bag) >= self.per_bag:
            self.close_bag()

    def _abandon_bag(self, exc: OSError, lost: list[int]) -> None:
        """The bag in progress cannot be written: drop it (the complete bags and progress.json
        were written before and stay valid), say so, and stop the recording."""
        name = self._bag_name
        try:
            if self._writer is not None:
                self._writer.close()
        except Exception:  # noqa: BLE001 - the folder is deleted next; its state does not matter
            pass
        self._writer, self._in_bag, self._open = None, [], None
        self._buffer.clear()
        self.progress.discard_incomplete()
        message = (f"cannot write {self.progress.root / name} ({exc}): that bag (trajectories {lost}) was discarded; "
                   f"the {len(self.progress.bags)} complete bags and {self.progress.root / 'progress.json'} are intact. "
                   "Free disk space and run the same command again to continue")
        self.get_logger().error(message)
        raise FatalNodeError(message) from exc

    def _open_bag(self) -> None:
        self._bag_name = self.progress.next_bag_name()
        self._writer = Writer(self.progress.root / self._bag_name, version=9, storage_plugin=self.storage)
        self._writer.open()
        types = {**self.types, **(SCENE_TYPES if self.scene_topic else {})}
        self._connections = {topic: self._writer.add_connection(topic, msgtype, typestore=self.typestore)
                             for topic, msgtype in types.items()}
        if self.scene_topic and self._buffer:
            msg = self.typestore.types["std_msgs/msg/String"](data=self.urdf)
            self._writer.write(self._connections["/robot_description"], self._buffer[0][1],
                               self.typestore.serialize_cdr(msg, "std_msgs/msg/String"))

    def _write_tf(self, t: int, raw: bytes) -> None:
        """The hand's frames at the joint state ``raw`` (skipped if it is not 16 finite positions)."""
        state = self.typestore.deserialize_cdr(raw, STATE_TYPE)
        try:
            q = joint_order.reorder_by_names(state.position, state.name) if len(state.name) else state.position
        except joint_order.JointCommandError:
            return
        if len(q) != joint_order.NUM_JOINTS or not np.all(np.isfinite(q)):
            return
        T = self.typestore.types
        stamp = state.header.stamp
        tfs = [T["geometry_msgs/msg/TransformStamped"](
            header=T["std_msgs/msg/Header"](stamp=stamp, frame_id=parent), child_frame_id=child,
            transform=T["geometry_msgs/msg/Transform"](
                translation=T["geometry_msgs/msg/Vector3"](x=float(pos[0]), y=float(pos[1]), z=float(pos[2])),
                rotation=T["geometry_msgs/msg/Quaternion"](x=float(quat[1]), y=float(quat[2]), z=float(quat[3]),
                                                           w=float(quat[0]))))
               for parent, child, pos, quat in self.frames.poses(q)]
        msg = T["tf2_msgs/msg/TFMessage"](transforms=tfs)
        self._writer.write(self._connections["/tf"], t, self.typestore.serialize_cdr(msg, "tf2_msgs/msg/TFMessage"))

    def close_bag(self) -> None:
        """Close the open bag (if any) and list it with its trajectories in the progress file."""
        if self._writer is None:
            return
        try:
            self._writer.close()
            self.progress.add_bag(self._bag_name, self._in_bag)
        except OSError as exc:
            self._abandon_bag(exc, self._in_bag)
        self.get_logger().info(f"closed {self._bag_name}: trajectories {self._in_bag}")
        self._writer, self._in_bag = None, []

    def destroy_node(self):
        try:
            self.close_bag()
        except FatalNodeError:
            pass            # logged; the bag that could not be closed was discarded
        return super().destroy_node()


def main(args=None) -> None:
    spin(BagRecorder, args)


if __name__ == "__main__":
    main()
