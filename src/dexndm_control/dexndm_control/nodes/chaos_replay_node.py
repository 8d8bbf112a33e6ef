"""Chaos Box replay node: the base policy's simulated action trajectories, open loop on the hand.

Replays trajectories ``start_index`` .. ``num_trajectories - 1`` (``chaos_replay.py``: source,
noise, per-trajectory seeds, the tick sequence) unattended at ``rate_hz``: for each, a move to
its start targets over ``move_duration_s`` and a hold of ``hold_s``, a START
``dexndm_msgs/TrajectoryMarker`` on ``marker_topic``, the replayed targets on ``command_topic``
(``sensor_msgs/JointState``), then an END marker. Starts once a joint state has arrived (the
first move starts from it). Every target passes ``joint_order.validate_targets`` before it is
published; one that does not (impossible by construction) aborts its trajectory (ABORT marker)
and the hand keeps the last valid target.

Pacing: the tick timer runs on the node's clock. With ``use_sim_time`` (the simulated hand
publishes ``/clock``) that is the simulation's clock, so the replay keeps 20 Hz of *sim* time
however fast the physics runs; on the real hand it is the wall clock.
"""
from __future__ import annotations

from collections import deque

from rclpy.node import Node
from sensor_msgs.msg import JointState

from dexndm_control.chaos_box import chaos_replay
from dexndm_control.runtime.joint_state_io import make_joint_state
from dexndm_control.ros.node_main import spin
from dexndm_control.ros.params import declare_from_file
from dexndm_learning import joint_order
from dexndm_msgs.msg import TrajectoryMarker

EVENTS = {chaos_replay.START: TrajectoryMarker.EVENT_START, chaos_replay.END: TrajectoryMarker.EVENT_END}


class ChaosReplayNode(Node):
    def __init__(self, node_name: str = "chaos_replay", **kwargs):
        super().__init__(node_name, **kwargs)
        declare_from_file(self, "chaos_replay", "chaos_replay.yaml")
        p = lambda name: self.get_parameter(name).value  # noqa: E731

        if not p("source"):
            raise ValueError("parameter 'source' is empty: give a rollout dataset folder or an .npz of actions")
        self.wrist = p("wrist")
        self.source = chaos_replay.load_source(p("source"), self.wrist, int(p("steps")))
        self.noise = chaos_replay.NoiseConfig(float(p("noise_probability")), float(p("noise_sigma")), int(p("seed")))
        rate = float(p("rate_hz"))
        self.move_steps = max(1, round(float(p("move_duration_s")) * rate))
        self.hold_steps = round(float(p("hold_s")) * rate)
        self.next_index = int(p("start_index"))
        self.end_index = int(p("num_trajectories"))
        self.finished = self.next_index >= self.end_index
        self.aborted: list[int] = []
        self._ticks: deque[chaos_replay.Tick] = deque()
        self._plan: chaos_replay.TrajectoryPlan | None = None
        self._state = None
        self._last_target = None
        self.cmd_pub = self.create_publisher(JointState, p("command_topic"), 10)
        self.marker_pub = self.create_publisher(TrajectoryMarker, p("marker_topic"), 10)
        self.create_subscription(JointState, p("state_topic"), self._on_state, 10)
        self.timer = self.create_timer(1.0 / rate, self._tick)
        self.get_logger().info(
            f"replaying trajectories {self.next_index}..{self.end_index - 1} of {len(self.source.actions)} "
            f"source trajectories x {self.source.actions.shape[1]} steps, wrist {self.wrist}, "
            f"noise p={self.noise.probability} sigma={self.noise.sigma}")

    def _on_state(self, msg: JointState) -> None:
        self._state = joint_order.reorder_by_names(msg.position, msg.name)

    def _tick(self) -> None:
        if self.finished:
            return
        if not self._ticks:
            if self._last_target is None and self._state is None:
                return      # no joint state yet: nothing to move from
            q_from = self._last_target if self._last_target is not None else joint_order.clip_to_limits(self._state)
            self._plan = chaos_replay.plan_trajectory(self.source, self.next_index, self.noise)
            self._ticks.extend(chaos_replay.trajectory_ticks(self._plan, q_from, self.move_steps, self.hold_steps))
            self.next_index += 1
        tick = self._ticks.popleft()
        if tick.event is not None:
            self._publish_marker(EVENTS[tick.event])
        if tick.target is not None:
            try:
                target = joint_order.validate_targets(tick.target)
            except joint_order.JointCommandError as exc:
                self.get_logger().error(f"trajectory {self._plan.index} aborted, last target kept: {exc}")
                self._publish_marker(TrajectoryMarker.EVENT_ABORT)
                self.aborted.append(self._plan.index)
                self._ticks.clear()
            else:
                self.cmd_pub.publish(make_joint_state(self.get_clock().now().to_msg(), target))
                self._last_target = target
        if tick.event == chaos_replay.END:
            self.get_logger().info(f"trajectory {self._plan.index} done (noisy: {self._plan.noisy})")
        if not self._ticks and self.next_index >= self.end_index:
            self.finished = True
            self.timer.cancel()
            self.get_logger().info("all trajectories replayed")

    def _publish_marker(self, event: int) -> None:
        m = TrajectoryMarker()
        m.header.stamp = self.get_clock().now().to_msg()
        m.trajectory_index = self._plan.index
        m.event = event
        m.noisy = self._plan.noisy
        m.noise_sigma = float(self._plan.sigma)
        m.wrist = self.wrist
        self.marker_pub.publish(m)


def main(args=None) -> None:
    spin(ChaosReplayNode, args)


if __name__ == "__main__":
    main()
