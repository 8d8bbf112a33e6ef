"""The Foxglove live view (issue 24): what it serves, checked by a client speaking the Foxglove
WebSocket protocol, with and without ROS, and the same channels written to MCAP."""
import threading
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from mcap.reader import make_reader

from dexndm_control.nodes.live_view_node import LiveViewNode
from dexndm_control.nodes.sim_hand_node import SimHandNode
from dexndm_control.ros.params import node_parameters
from dexndm_control.runtime.joint_state_io import make_joint_state
from dexndm_control.testing.foxglove_client import FoxgloveClient
from dexndm_control.viz.live_view import LiveView
from dexndm_learning import joint_order as jo
from dexndm_learning.sim.urdf import hand_urdf

from .ros_helpers import ros_context

BODIES = {"mount", "palm", "if_ds", "th_ds"}          # a few of the hand's frames (URDF links too)


def frames(tf) -> dict[str, np.ndarray]:
    return {t.child_frame_id: np.array([t.translation.x, t.translation.y, t.translation.z,
                                        t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w]) for t in tf.transforms}


def next_on(client, topic, timeout=10.0):
    while True:
        got, msg = client.next_message(timeout)
        if got == topic:
            return msg


def settle(client, view, topic="/tf"):
    """Log until the subscription delivers (the protocol does not acknowledge a subscribe), then
    drop what is still in flight."""
    for _ in range(100):
        view.joint_states(jo.CANONICAL_GRASP)
        try:
            if client.next_message(0.1)[0] == topic:
                break
        except TimeoutError:
            pass
    while True:
        try:
            client.next_message(0.2)
        except TimeoutError:
            return


@pytest.fixture
def view():
    v = LiveView(port=0)
    yield v
    v.close()


def test_transforms_follow_the_joints_and_the_scene_has_hand_object_and_axis(view):
    client = FoxgloveClient(f"ws://127.0.0.1:{view.port}")
    try:
        assert set(client.wait_for_topics(["/tf", "/scene", "/leap_hand/joint_states", "/leap_hand/joint_targets",
                                           "/dexndm/policy_status"]))
        client.subscribe(["/tf", "/scene", "/leap_hand/joint_states"])
        settle(client, view)
        seen = []
        for q in (jo.CANONICAL_GRASP, jo.CANONICAL_GRASP + 0.3 * jo.FLEXION_JOINTS):
            view.joint_states(q)
            last_tf = next_on(client, "/tf")
            seen.append(frames(last_tf))
            assert next_on(client, "/leap_hand/joint_states")["position"] == pytest.approx(list(q))
        assert BODIES <= set(seen[0])
        assert {f for f in seen[0] if not np.allclose(seen[0][f], seen[1][f])} >= {"if_ds", "th_ds"}
        np.testing.assert_allclose(seen[0]["palm"], seen[1]["palm"])      # the palm does not move with the fingers
        # the frames are the links of the URDF ROS tools get, under the same parents
        urdf = ET.fromstring(hand_urdf())
        parents = {j.find("child").get("link"): j.find("parent").get("link") for j in urdf.findall("joint")}
        tf_parents = {t.child_frame_id: t.parent_frame_id for t in last_tf.transforms}
        assert {c: p for c, p in parents.items() if c in tf_parents} == {c: p for c, p in tf_parents.items() if p != "world"}

        view.set_axis([0, 0, 2.0])
        view.set_object_pose([0.1, 0.0, 0.05], [1, 0, 0, 0])
        view.publish_scene()
        ids = {e.id: e for e in next_on(client, "/scene").entities}
        assert {"object", "rotation_axis", "hand/palm"} <= set(ids)
        assert ids["rotation_axis"].frame_id == "world" and len(ids["rotation_axis"].arrows) == 1
        assert ids["hand/palm"].frame_locked and ids["hand/palm"].frame_id == "palm"
    finally:
        client.close()


def test_a_wrist_from_the_arm_turns_the_hand_frame(view):
    client = FoxgloveClient(f"ws://127.0.0.1:{view.port}")
    try:
        client.subscribe(["/tf"])
        settle(client, view)
        view.set_wrist([0.0, 0.0, 2.0, 0.0])                   # normalized: 180 deg about y
        view.joint_states(jo.CANONICAL_GRASP)
        mount = next(t for t in next_on(client, "/tf").transforms if t.child_frame_id == "mount")
        assert mount.parent_frame_id == "world"
        np.testing.assert_allclose([mount.rotation.w, mount.rotation.x, mount.rotation.y, mount.rotation.z],
                                   [0, 0, 1, 0], atol=1e-12)
        with pytest.raises(ValueError, match="finite"):
            view.set_wrist([0.0, 0.0, 0.0, 0.0])
    finally:
        client.close()


def test_the_same_channels_go_to_mcap(tmp_path):
    v = LiveView(port=None, mcap_path=tmp_path / "view.mcap")
    v.joint_states(jo.CANONICAL_GRASP)
    v.publish_scene()
    v.close()
    with open(tmp_path / "view.mcap", "rb") as f:
        topics = [c.topic for _, c, _ in make_reader(f).iter_messages()]
    assert {"/tf", "/scene", "/leap_hand/joint_states"} <= set(topics)


def test_the_live_view_node_streams_the_simulated_hand_as_it_moves():
    with ros_context() as (context, executor):
        hand = SimHandNode(context=context, parameter_overrides=node_parameters("sim_hand", {"real_time_factor": 1.0}))
        node = LiveViewNode(context=context, parameter_overrides=node_parameters("live_view", {"port": 0}))
        executor.add_node(hand)
        executor.add_node(node)
        pub = node.create_publisher(type(make_joint_state(None, jo.CANONICAL_GRASP)), "/leap_hand/joint_commands", 10)
        stop = threading.Event()
        spinner = threading.Thread(target=lambda: [executor.spin_once(timeout_sec=0.01) for _ in iter(stop.is_set, True)])
        spinner.start()
        client = FoxgloveClient(f"ws://127.0.0.1:{node.view.port}")
        try:
            client.subscribe(["/tf"])
            first = frames(next_on(client, "/tf"))
            assert BODIES <= set(first)
            pub.publish(make_joint_state(node.get_clock().now().to_msg(), jo.CANONICAL_GRASP + 0.4 * jo.FLEXION_JOINTS))
            for _ in range(400):                                # about 3 s of states at 120 Hz
                later = frames(next_on(client, "/tf"))
                if not np.allclose(later["if_ds"], first["if_ds"], atol=1e-3):
                    break
            assert not np.allclose(later["if_ds"], first["if_ds"], atol=1e-3)
        finally:
            client.close()
            stop.set()
            spinner.join()
