"""Node graphs, defined once: launch files and the one-process CLI start the same nodes with the
same parameters from these descriptions.

A graph is a builder (typed arguments -> list of ``NodeSpec``, and ``ProcessSpec`` for programs
that only exist on a ROS 2 install, such as ``ros2 bag record``) and its arguments, each with a
default and a parser from the string form launch arguments have. Launch files evaluate
``from_strings(graph, {arg: value})`` and turn every NodeSpec into a ``launch_ros`` Node with
``parameters=[config/<params_file>, overrides]`` and every ProcessSpec into an ``ExecuteProcess``
(``launch_description.py``); the CLI calls ``build(graph, **typed)`` (with arguments that give
only NodeSpecs) and instantiates ``NodeSpec.factory`` in one process (``composition.py``). This
module imports no ROS or node code, so descriptions are cheap to test.

Overrides hold only what the arguments change; an empty path argument means "the params file's
value", so both paths (and launch_ros, which cannot pass empty strings) agree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class NodeSpec:
    package: str
    executable: str
    name: str                    # node name = the section of params_file it reads
    factory: str                 # "module:Class"; Class(node_name=..., context=..., parameter_overrides=...)
    params_file: str             # in config/
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    cmd: tuple[str, ...]


@dataclass(frozen=True)
class Arg:
    default: str
    help: str
    parse: Callable[[str], Any] = str


@dataclass(frozen=True)
class Graph:
    build: Callable[..., list[NodeSpec | ProcessSpec]]
    args: dict[str, Arg]


def parse_bool(s: str) -> bool:
    v = str(s).strip().lower()
    if v not in ("true", "false", "1", "0"):
        raise ValueError(f"expected true or false, got '{s}'")
    return v in ("true", "1")


def parse_vector3(s: str) -> list[float]:
    """'0 0 1', '0,0,1' or '[0, 0, 1]' -> [0.0, 0.0, 1.0] (an axis, an offset)."""
    parts = str(s).replace("[", " ").replace("]", " ").replace(",", " ").split()
    if len(parts) != 3:
        raise ValueError(f"expected 3 numbers, got '{s}'")
    return [float(x) for x in parts]


# ---------------------------------------------------------------------- nodes
def sim_hand(**overrides) -> NodeSpec:
    return NodeSpec("dexndm_control", "sim_hand", "sim_hand", "dexndm_control.nodes.sim_hand_node:SimHandNode",
                    "sim_hand.yaml", overrides)


def leap_driver(**overrides) -> NodeSpec:
    return NodeSpec("dexndm_control", "leap_driver", "leap_driver",
                    "dexndm_control.nodes.leap_driver_node:LeapHandDriverNode", "leap_driver.yaml", overrides)


def rotation_policy(base: str, residual: str, **overrides) -> NodeSpec:
    paths = {k: v for k, v in (("base_policy", base), ("residual_policy", residual)) if v}
    return NodeSpec("dexndm_control", "rotation_policy", "rotation_policy", "dexndm_control.nodes.policy_node:PolicyNode",
                    "policy.yaml", {**overrides, **paths})


def rotation_commander(**overrides) -> NodeSpec:
    return NodeSpec("dexndm_control", "rotation_commander", "rotation_commander",
                    "dexndm_control.nodes.rotation_commander:RotationCommander", "rotation_commander.yaml", overrides)


def franka_bridge(**overrides) -> NodeSpec:
    return NodeSpec("dexndm_control", "franka_bridge", "franka_bridge",
                    "dexndm_control.nodes.franka_bridge_node:FrankaBridgeNode", "franka_bridge.yaml", overrides)


def quest_teleop(**overrides) -> NodeSpec:
    return NodeSpec("dexndm_control", "quest_teleop", "quest_teleop", "dexndm_control.nodes.teleop_node:QuestTeleopNode",
                    "quest_teleop.yaml", overrides)


def chaos_replay(**overrides) -> NodeSpec:
    return NodeSpec("dexndm_control", "chaos_replay", "chaos_replay",
                    "dexndm_control.nodes.chaos_replay_node:ChaosReplayNode", "chaos_replay.yaml", overrides)


def bag_recorder(**overrides) -> NodeSpec:
    return NodeSpec("dexndm_control", "bag_recorder", "bag_recorder", "dexndm_control.nodes.bag_recorder:BagRecorder",
                    "bag_recorder.yaml", overrides)


def live_view(**overrides) -> NodeSpec:
    return NodeSpec("dexndm_control", "live_view", "live_view", "dexndm_control.nodes.live_view_node:LiveViewNode",
                    "live_view.yaml", overrides)


def _with_view(nodes: list, viz: bool, viz_port: int, wrist: str, wrist_topic: str = "") -> list:
    """``nodes`` plus the Foxglove live view when ``viz``."""
    view = live_view(port=viz_port, wrist=wrist, **({"wrist_topic": wrist_topic} if wrist_topic else {}))
    return [*nodes, view] if viz else nodes


CHAOS_BOX_TOPICS = {
    "/leap_hand/joint_states": "sensor_msgs/msg/JointState",
    "/leap_hand/joint_commands": "sensor_msgs/msg/JointState",
    "/chaos_box/trajectory": "dexndm_msgs/msg/TrajectoryMarker",
}
"""What a Chaos Box collection records (what ``dexndm_learning.ndm.bag_ingest`` reads)."""
ROS2_BAG_SPLIT_S = 1200


def ros2_bag_record(out: str, sim_time: bool) -> ProcessSpec:
    """``ros2 bag record`` of the Chaos Box topics (mcap; a new file every 20 min)."""
    cmd = ["ros2", "bag", "record", "-s", "mcap", "--max-bag-duration", str(ROS2_BAG_SPLIT_S)]
    cmd += ["-o", out] if out else []
    cmd += ["--use-sim-time"] if sim_time else []
    return ProcessSpec("ros2_bag_record", tuple(cmd + list(CHAOS_BOX_TOPICS)))


def chaos_box_scene(scene: str, wrist: str) -> str:
    """``auto``: the palm-up set-up (a strapped ball) for palm up, where the box cannot be reached;
    the ball box otherwise."""
    if scene != "auto":
        return scene
    return "chaos_box_strapped" if wrist == "palm_up" else "chaos_box"


# ---------------------------------------------------------------------- graphs
ROTATE_TOPICS = {
    "/leap_hand/joint_states": "sensor_msgs/msg/JointState",
    "/leap_hand/joint_commands": "sensor_msgs/msg/JointState",
    "/leap_hand/joint_targets": "sensor_msgs/msg/JointState",
    "/sim/object_pose": "geometry_msgs/msg/PoseStamped",
    "/sim/object_twist": "geometry_msgs/msg/TwistStamped",
}
"""What ``rotate``'s ``record`` writes (with the hand's scene: /robot_description and /tf)."""


def _rotate(wrist: str, sim: bool, base: str, residual: str, axis: list[float], object_set: str,
            object_index: int, start_orientation: str, start_offset: list[float], viz: bool, viz_port: int,
            record: str) -> list[NodeSpec]:
    """LEAP Hand (or the simulated hand holding an object, started as ``start_orientation`` and
    ``start_offset`` say; "axis": its local z along the rotation axis) + policy with a fixed wrist
    + a fixed axis (+ a bag of the run with the hand's scene, with ``record``)."""
    start = {"start_orientation": start_orientation, "start_offset": list(start_offset)}
    if start_orientation == "axis":
        start["start_axis"] = list(axis)
    hand = (sim_hand(wrist=wrist, object_set=object_set, object_index=object_index, **start) if sim
            else leap_driver())
    nodes = [hand, rotation_policy(base, residual, wrist_source="fixed", wrist=wrist), rotation_commander(axis=axis)]
    if record:
        nodes.append(bag_recorder(marker_topic="", topics=list(ROTATE_TOPICS), types=list(ROTATE_TOPICS.values()),
                                  out_dir=record, scene_wrist=wrist))
    return _with_view(nodes, viz, viz_port, wrist)


def _teleop(base: str, residual: str, replay_file: str, viz: bool, viz_port: int) -> list[NodeSpec]:
    """LEAP Hand + Franka bridge (wrist from the arm) + Quest 3 teleop (axis) + policy."""
    quest = quest_teleop(replay_file=replay_file) if replay_file else quest_teleop()
    return _with_view([leap_driver(), franka_bridge(), quest, rotation_policy(base, residual, wrist_source="topic")],
                      viz, viz_port, "palm_down", "/dexndm/wrist_orientation")     # the Franka bridge's wrist


def _chaos_box(wrist: str, sim: bool, scene: str, profile: str, balls: int, real_time_factor: float, source: str,
               trajectories: int, steps: int, noise_sigma: float, start_index: int, recorder: str, out: str,
               per_bag: int, viz: bool, viz_port: int, record_scene: bool) -> list[NodeSpec | ProcessSpec]:
    """Chaos Box collection: the LEAP Hand (or the simulated hand in a Chaos Box scene under a
    reality profile, the graph's clock) + the replay + a recorder (``ros2 bag record``, or the
    project's bag_recorder node)."""
    if sim:
        hand = sim_hand(wrist=wrist, scene=chaos_box_scene(scene, wrist), reality=profile, n_balls=balls,
                        real_time_factor=real_time_factor, publish_clock=True)
    else:
        hand = leap_driver()
    replay = chaos_replay(wrist=wrist, num_trajectories=trajectories, steps=steps, noise_sigma=noise_sigma,
                          start_index=start_index, use_sim_time=sim, **({"source": source} if source else {}))
    if recorder == "ros2bag":
        rec = ros2_bag_record(out, sim)
    elif recorder == "node":
        rec = bag_recorder(use_sim_time=sim, trajectories_per_bag=per_bag, topics=list(CHAOS_BOX_TOPICS), scene_wrist=wrist,
                           scene=record_scene,
                           types=list(CHAOS_BOX_TOPICS.values()), **({"out_dir": out} if out else {}))
    else:
        raise ValueError(f"recorder must be 'ros2bag' or 'node', got '{recorder}'")
    return _with_view([hand, replay, rec], viz, viz_port, wrist)


_VIZ_ARGS = {
    "viz": Arg("false", "start the Foxglove live view (WebSocket on localhost, config/live_view.yaml)", parse_bool),
    "viz_port": Arg("8765", "live view: WebSocket port", int),
}

_POLICY_ARGS = {
    "base": Arg("", "base policy artifact (empty: config/policy.yaml's base_policy)"),
    "residual": Arg("", "residual policy artifact (empty: none)"),
}

GRAPHS: dict[str, Graph] = {
    "rotate": Graph(_rotate, {
        "wrist": Arg("palm_up", "fixed wrist orientation (named)"),
        "sim": Arg("false", "simulated hand holding an object instead of the LEAP Hand", parse_bool),
        **_POLICY_ARGS,
        "axis": Arg("0 0 1", "rotation axis, world frame", parse_vector3),
        "object_set": Arg("normal_cylinders", "sim: object set"),
        # cylinder_07 (friction 2.05, 37 g): a typical training object. The set's low-friction
        # cylinders (00, 03, 06: friction 0.31-0.41) are dropped far more often by the generalist.
        "object_index": Arg("7", "sim: object in the set", int),
        "start_orientation": Arg("random", "sim: how the object starts: random, upright (its local z up) or axis "
                                           "(its local z along the rotation axis)"),
        "start_offset": Arg("0 0 0", "sim: start grasp centre from the canonical one, hand frame, m (-0.02 0 -0.03: "
                                     "on the palm)", parse_vector3),
        "record": Arg("", "folder: record the run as a rosbag2 MCAP bag with the hand's scene (empty: none)"),
        **_VIZ_ARGS,
    }),
    "teleop": Graph(_teleop, {
        **_POLICY_ARGS,
        "replay_file": Arg("", "recorded Quest stream to play instead of the headset"),
        **_VIZ_ARGS,
    }),
    "chaos_box": Graph(_chaos_box, {
        "wrist": Arg("palm_down", "wrist orientation (named) the trajectories were rolled out for"),
        "sim": Arg("false", "the simulated hand in a Chaos Box scene instead of the LEAP Hand", parse_bool),
        "scene": Arg("auto", "sim: chaos_box | chaos_box_strapped | hand | auto (strapped for palm_up)"),
        "profile": Arg("nominal", "sim: reality profile (name in config/reality/ or path)"),
        "balls": Arg("0", "sim: balls in the box (0: enough to cover the hand)", int),
        "real_time_factor": Arg("1.0", "sim: at most this many sim seconds per wall second", float),
        "source": Arg("", "rollout dataset folder or .npz of actions (empty: config/chaos_replay.yaml's source)"),
        "trajectories": Arg("4000", "collection size", int),
        "steps": Arg("0", "actions per trajectory (0: all)", int),
        "noise_sigma": Arg("0.01", "std (rad) of the noise on the targets of a noisy trajectory", float),
        "start_index": Arg("0", "first trajectory to replay (resume)", int),
        "recorder": Arg("ros2bag", "ros2bag (ros2 bag record) | node (the project's bag_recorder)"),
        "out": Arg("", "bag output (empty: ros2 bag's default name / config/bag_recorder.yaml's out_dir)"),
        "per_bag": Arg("20", "recorder node: trajectories per bag", int),
        "record_scene": Arg("true", "recorder node: also /robot_description and /tf, so Foxglove shows the hand",
                            parse_bool),
        **_VIZ_ARGS,
    }),
}


def build(graph: str, **values) -> list[NodeSpec]:
    """The graph's nodes for typed argument ``values`` (missing ones take their defaults)."""
    g = GRAPHS[graph]
    unknown = sorted(set(values) - set(g.args))
    if unknown:
        raise ValueError(f"unknown arguments {unknown} for graph '{graph}'; valid: {sorted(g.args)}")
    kwargs = {k: values[k] if k in values else a.parse(a.default) for k, a in g.args.items()}
    return g.build(**kwargs)


def from_strings(graph: str, values: dict[str, str]) -> list[NodeSpec]:
    """The graph's nodes for string argument values (launch arguments)."""
    g = GRAPHS[graph]
    unknown = sorted(set(values) - set(g.args))
    if unknown:
        raise ValueError(f"unknown arguments {unknown} for graph '{graph}'; valid: {sorted(g.args)}")
    return build(graph, **{k: g.args[k].parse(v) for k, v in values.items()})
