"""Node graphs: launch arguments and CLI arguments describe the same nodes, and composing a graph
in one process starts exactly those nodes with exactly those parameters."""
import ast
import inspect
from pathlib import Path

import pytest

from dexndm_control import cli, graphs
from dexndm_control.graphs.composition import compose, node_class, parameters
from dexndm_control.ros.params import load_node_params
from dexndm_control.testing.policies import random_policy
from dexndm_control.ros.params import runtime_config_dir
from dexndm_learning.config import repo_root

from .ros_helpers import ros_context

LAUNCH_DIR = (repo_root() or Path(".")) / "launch"


@pytest.fixture(autouse=True)
def _grasp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_rotate_launch_and_cli_arguments_give_the_same_nodes():
    cases = [
        ({}, ["rotate"]),
        ({"wrist": "palm_down", "sim": "true", "residual": "/r.pt", "axis": "0 -1 0"},
         ["rotate", "--wrist", "palm_down", "--sim", "--residual", "/r.pt", "--axis", "0", "-1", "0"]),
        ({"sim": "True", "base": "b.pt", "axis": "[1, 0, 0]", "object_set": "test", "object_index": "3"},
         ["rotate", "--sim", "--base", "b.pt", "--axis", "1", "0", "0", "--object-set", "test", "--object-index", "3"]),
        ({"sim": "true", "start_orientation": "axis", "start_offset": "-0.02 0 -0.03", "axis": "0 1 0"},
         ["rotate", "--sim", "--start-orientation", "axis", "--start-offset", "-0.02", "0", "-0.03", "--axis", "0", "1",
          "0"]),
    ]
    for launch_args, argv in cases:
        assert graphs.from_strings("rotate", launch_args) == cli.rotate_specs(cli.build_parser().parse_args(argv))
    hand = graphs.from_strings("rotate", cases[-1][0])[0].overrides
    assert (hand["start_orientation"], hand["start_axis"], hand["start_offset"]) == ("axis", [0.0, 1.0, 0.0],
                                                                                     [-0.02, 0.0, -0.03])


def test_teleop_launch_and_cli_arguments_give_the_same_nodes():
    launch = graphs.from_strings("teleop", {"residual": "/r.pt", "replay_file": "/q.jsonl"})
    argv = ["teleop", "--residual", "/r.pt", "--replay-file", "/q.jsonl"]
    assert launch == cli.teleop_specs(cli.build_parser().parse_args(argv))
    assert [s.name for s in launch] == ["leap_driver", "franka_bridge", "quest_teleop", "rotation_policy"]
    assert launch[-1].overrides == {"wrist_source": "topic", "residual_policy": "/r.pt"}


def test_chaos_box_launch_and_cli_arguments_give_the_same_nodes(tmp_path):
    launch = graphs.from_strings("chaos_box", {
        "wrist": "thumb_up", "sim": "true", "profile": "worn_hand", "source": str(tmp_path / "a.npz"),
        "trajectories": "30", "steps": "400", "recorder": "node", "out": str(tmp_path / "out"), "per_bag": "5"})
    argv = ["collect", "chaos-box", "--wrist", "thumb_up", "--profile", "worn_hand",
            "--actions", str(tmp_path / "a.npz"), "--trajectories", "30", "--steps", "400", "--out", str(tmp_path / "out"),
            "--per-bag", "5"]
    assert launch == cli.chaos_box_specs(cli.build_parser().parse_args(argv))
    assert [s.name for s in launch] == ["sim_hand", "chaos_replay", "bag_recorder"]
    assert launch[0].overrides["scene"] == "chaos_box" and launch[0].overrides["publish_clock"]
    assert launch[1].overrides["use_sim_time"] and launch[2].overrides["use_sim_time"]
    palm_up = graphs.build("chaos_box", wrist="palm_up", sim=True, recorder="node")
    assert palm_up[0].overrides["scene"] == "chaos_box_strapped"


def test_chaos_box_on_the_real_hand_records_with_ros2_bag():
    hand, replay, record = graphs.from_strings("chaos_box", {"out": "/data/cb_0", "source": "/data/rollouts"})
    assert hand.name == "leap_driver" and not replay.overrides["use_sim_time"]
    assert record.cmd == ("ros2", "bag", "record", "-s", "mcap", "--max-bag-duration", "1200", "-o", "/data/cb_0",
                          "/leap_hand/joint_states", "/leap_hand/joint_commands", "/chaos_box/trajectory")
    with pytest.raises(ValueError, match="ros2 launch"):
        compose([hand, replay, record], context=None)


@pytest.mark.parametrize("graph, args", [("rotate", {"sim": False}), ("rotate", {"sim": True}), ("teleop", {}),
                                         ("chaos_box", {"sim": True, "recorder": "node"}),
                                         ("chaos_box", {"sim": False, "recorder": "node"})])
def test_every_node_description_is_startable(graph, args):
    """Params file section exists, overrides name declared parameters, the class exists."""
    assert set(graphs.GRAPHS) == {"rotate", "teleop", "chaos_box"}   # a new graph gets a case here
    specs = graphs.build(graph, **args)
    assert len({s.name for s in specs}) == len(specs)
    for s in specs:
        file_params = load_node_params(s.name, runtime_config_dir() / s.params_file)
        assert set(s.overrides) <= set(file_params), s.name
        assert "node_name" in inspect.signature(node_class(s)).parameters


@pytest.mark.parametrize("graph, args", [("rotate", {"sim": False}), ("rotate", {"sim": True}), ("teleop", {})])
def test_the_policy_listens_to_the_hands_topics(graph, args):
    """States, commands and the targets in force (bumpless start) meet on the same topics."""
    params = {s.name: parameters(s) for s in graphs.build(graph, **args)}
    hand = params.get("sim_hand") or params["leap_driver"]
    policy = params["rotation_policy"]
    assert policy["state_topic"] == hand["state_topic"]
    assert policy["command_topic"] == hand["command_topic"]
    assert policy["hand_target_topic"] == hand["target_topic"] == "/leap_hand/joint_targets"


def test_composing_the_sim_rotate_graph_starts_the_described_nodes(tmp_path):
    base = random_policy(tmp_path / "base.pt", "base")
    residual = random_policy(tmp_path / "residual.pt", "residual")
    specs = cli.rotate_specs(cli.build_parser().parse_args(
        ["rotate", "--sim", "--wrist", "thumb_up", "--base", str(base), "--residual", str(residual)]))
    with ros_context() as (context, executor):
        nodes = compose(specs, context)
        assert [n.get_name() for n in nodes] == [s.name for s in specs]
        for node, spec in zip(nodes, specs):
            expected = parameters(spec)
            got = {k: node.get_parameter(k).value for k in expected}
            got = {k: list(v) if isinstance(v, (list, tuple)) or hasattr(v, "tolist") else v for k, v in got.items()}
            assert got == expected, spec.name
        for n in nodes:
            n.destroy_node()


@pytest.mark.parametrize("name", ["rotate", "teleop", "chaos_box"])
def test_launch_files_build_their_nodes_from_the_graph(name):
    """The launch files cannot be imported here (no `launch`); check they delegate to graphs."""
    tree = ast.parse((LAUNCH_DIR / f"{name}.launch.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "launch_description"]
    assert [c.args[0].value for c in calls] == [name]
