"""Node parameters: defaults written once, in each node's parameter file (dexndm_control.ros.params)."""
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter

from dexndm_control import graphs
from dexndm_control.graphs.composition import node_class
from dexndm_control.ros.params import declare_from_file, load_node_params, runtime_config_dir

from .ros_helpers import ros_context


def test_file_values_are_the_defaults_and_overrides_win():
    with ros_context() as (context, _):
        node = Node("rotation_policy", context=context, parameter_overrides=[Parameter("rate_hz", value=30.0)])
        declare_from_file(node, "rotation_policy", "policy.yaml")
        file = load_node_params("rotation_policy", runtime_config_dir() / "policy.yaml")
        got = {name: node.get_parameter(name).value for name in file}
        assert got == {**file, "rate_hz": 30.0}
        node.destroy_node()


SPECS = {s.name: s for g, kw in (("rotate", {"sim": True, "viz": True, "viz_port": 0}), ("rotate", {}), ("teleop", {}),
                                  ("chaos_box", {"sim": True, "recorder": "node"}))
         for s in graphs.build(g, **kw) if isinstance(s, graphs.NodeSpec)}


def test_the_graphs_cover_every_node_class():
    assert {s.factory.rsplit(".", 1)[-1] for s in SPECS.values()} >= {
        "sim_hand_node:SimHandNode", "leap_driver_node:LeapHandDriverNode", "policy_node:PolicyNode",
        "franka_bridge_node:FrankaBridgeNode", "teleop_node:QuestTeleopNode", "chaos_replay_node:ChaosReplayNode",
        "bag_recorder:BagRecorder", "live_view_node:LiveViewNode"}


@pytest.mark.parametrize("spec", SPECS.values(), ids=list(SPECS))
def test_every_node_declares_exactly_its_file(spec, monkeypatch):
    """No node declares a parameter its file lacks (a default written in code, not in the file)."""
    declared = []
    original = Node.declare_parameter

    def recording(self, name, *args, **kwargs):
        declared.append(name)
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(Node, "declare_parameter", recording)
    file = load_node_params(spec.name, runtime_config_dir() / spec.params_file)
    with ros_context() as (context, _):
        Node("plain", context=context)
        by_rclpy = set(declared)                      # what every rclpy node declares itself
        try:
            node_class(spec)(node_name=spec.name, context=context)
        except Exception:
            pass                      # e.g. no serial port or policy file here: declaring comes first
    assert set(declared) - by_rclpy == set(file) - by_rclpy
