"""Quest 3 teleop: recorded streams through the mapping, and the sources (the ROS node is tested
in dexndm_control/test/test_teleop_node.py)."""
import sys
import types

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dexndm_teleop import mapping, synthetic
from dexndm_teleop.mapping import MODE_HOLD, MODE_OFF, MODE_ROTATE, QuestMapping, TeleopConfig
from dexndm_teleop.sources import OculusReaderSource, ReplaySource, write_frames

EE_POS = np.array([0.5, 0.0, 0.4])
EE_ROT = Rotation.from_euler("x", 180, degrees=True)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("teleop") / "demo.jsonl"
    write_frames(path, synthetic.demo_frames(rate_hz=50.0))
    return path


def play(path, config=None) -> dict[float, mapping.TeleopOutput]:
    """Run a recorded stream through the mapping frame by frame: {frame time: output}."""
    source, m, outs = ReplaySource(path, realtime=False), QuestMapping(config), {}
    while (frame := source.get()) is not None:
        outs[round(frame.t, 2)] = m.update(frame, EE_POS, EE_ROT)
    return outs


def expected_axis(tilt_deg, turn_deg, weight):
    tilt, turn = np.radians(tilt_deg), np.radians(turn_deg)
    v = np.array([np.cos(tilt) * np.cos(turn), np.cos(tilt) * np.sin(turn), weight * np.sin(tilt)])
    return v / np.linalg.norm(v)


def test_replay_file_round_trip(demo_file):
    frames, played = synthetic.demo_frames(rate_hz=50.0), []
    source = ReplaySource(demo_file, realtime=False)
    while (frame := source.get()) is not None:
        played.append(frame)
    assert len(played) == len(frames) == 300
    for a, b in zip(frames, played):
        assert a.t == b.t and a.buttons == b.buttons
        np.testing.assert_allclose(a.right, b.right)
        np.testing.assert_allclose(a.left, b.left)
    assert played[30].pressed("RG") and played[110].analog("rightTrig") == 1.0
    assert played[0].buttons["rightJS"] == (0.0, 0.0)


def test_replay_realtime_timing(demo_file):
    now = [100.0]
    source = ReplaySource(demo_file, realtime=True, clock=lambda: now[0])
    assert source.get().t == 0.0          # the clock starts at the first call
    now[0] += 1.234
    assert source.get().t == pytest.approx(1.22)
    now[0] += 10.0
    assert source.get() is None           # ended


def test_clutch_moves_target_by_scaled_delta_and_release_holds(demo_file):
    outs = play(demo_file, TeleopConfig(position_scale=0.5, orientation_scale=0.5))
    assert outs[0.4].target_position is None                     # no clutch yet: no target
    np.testing.assert_allclose(outs[0.5].target_position, EE_POS, atol=1e-12)
    last = outs[1.48]                                            # last frame with the clutch held
    moved = 0.98 * np.array([0.10, 0.0, 0.05])                   # headset (0, .05, -.1) in the world
    np.testing.assert_allclose(last.target_position, EE_POS + 0.5 * moved, atol=1e-9)
    turn = last.target_rotation * EE_ROT.inv()                   # left turn = about world +z
    np.testing.assert_allclose(turn.as_rotvec(), [0, 0, np.radians(0.5 * 0.98 * 30)], atol=1e-9)
    for t in (1.5, 1.8, 1.98, 3.0):                              # released: controller returns, target holds
        np.testing.assert_allclose(outs[t].target_position, last.target_position)
        assert (outs[t].target_rotation * last.target_rotation.inv()).magnitude() < 1e-12


def test_buttons_select_configured_axes(demo_file):
    outs = play(demo_file)
    axes = TeleopConfig().button_axes
    assert all(outs[t].axis_mode == "buttons" for t in (0.0, 2.3, 3.9))
    np.testing.assert_allclose(outs[1.0].axis, axes[0])   # default selection
    np.testing.assert_allclose(outs[2.3].axis, [0, 0, 1])   # X
    np.testing.assert_allclose(outs[2.9].axis, [0, 0, -1])  # Y
    np.testing.assert_allclose(outs[3.2].axis, [0, 0, -1])  # latched after release
    np.testing.assert_allclose(outs[3.5].axis, [0, -1, 0])  # left grip
    np.testing.assert_allclose(outs[3.9].axis, [0, -1, 0])


@pytest.mark.parametrize("weight", [0.3, 1.0])
def test_continuous_axis_follows_left_controller_with_short_axis_down_weighted(demo_file, weight):
    outs = play(demo_file, TeleopConfig(short_axis_weight=weight))
    assert outs[4.0].axis_mode == "continuous"            # left joystick press toggled
    np.testing.assert_allclose(outs[4.0].axis, [1, 0, 0], atol=1e-12)   # level, pointing forward
    for t in (4.5, 4.98):
        u = (t - 4.0) / 1.0
        want = expected_axis(u * synthetic.LEFT_TILT_DEG, u * synthetic.LEFT_TURN_DEG, weight)
        np.testing.assert_allclose(outs[t].axis, want, atol=1e-9)
        assert np.linalg.norm(outs[t].axis) == pytest.approx(1.0)
    tilt = np.degrees(np.arcsin(outs[4.98].axis[2]))
    if weight < 1:   # the up/down tilt counts less; the turn about the vertical is followed 1:1
        assert tilt < 0.5 * 0.98 * synthetic.LEFT_TILT_DEG
    else:
        assert tilt == pytest.approx(0.98 * synthetic.LEFT_TILT_DEG)
    np.testing.assert_allclose(np.degrees(np.arctan2(outs[4.98].axis[1], outs[4.98].axis[0])),
                               0.98 * synthetic.LEFT_TURN_DEG)


def test_modes_trigger_hold_off(demo_file):
    outs = play(demo_file)
    assert outs[1.0].mode == MODE_OFF      # never enabled
    assert outs[2.5].mode == MODE_ROTATE   # right trigger held
    assert outs[5.2].mode == MODE_HOLD     # released after enabling: keep the grasp
    assert outs[5.7].mode == MODE_OFF      # B


def test_no_input_holds_when_enabled_and_joystick_toggles_back():
    rest = synthetic.controller_pose(synthetic.LEFT_REST)
    frame = lambda t, *pressed, trig=0.0: synthetic.make_frame(t, rest, rest, pressed, trig)  # noqa: E731
    m = QuestMapping()
    assert m.update(None).mode == MODE_OFF
    assert m.update(frame(0.0, "Y", trig=1.0)).mode == MODE_ROTATE
    assert m.update(None).mode == MODE_HOLD
    out = m.update(frame(0.1, "LJ"))
    assert out.axis_mode == "continuous"
    np.testing.assert_allclose(out.axis, [1, 0, 0], atol=1e-12)
    assert m.update(frame(0.2, "LJ")).axis_mode == "continuous"   # held: no second toggle
    m.update(frame(0.3))
    out = m.update(frame(0.4, "LJ"))
    assert out.axis_mode == "buttons"
    np.testing.assert_allclose(out.axis, [0, 0, -1])              # the latched Y axis


def test_oculus_reader_source(monkeypatch):
    monkeypatch.setitem(sys.modules, "oculus_reader", None)
    with pytest.raises(ImportError, match="not on PyPI"):
        OculusReaderSource()

    class FakeReader:
        def __init__(self, ip_address=None):
            self.data = ({}, {})

        def get_transformations_and_buttons(self):
            return self.data

    reader_module = types.ModuleType("oculus_reader.reader")
    reader_module.OculusReader = FakeReader
    monkeypatch.setitem(sys.modules, "oculus_reader", types.ModuleType("oculus_reader"))
    monkeypatch.setitem(sys.modules, "oculus_reader.reader", reader_module)
    now = [0.0]
    source = OculusReaderSource(stale_after_s=0.5, clock=lambda: now[0])
    assert source.get() is None                                 # nothing received yet
    source.reader.data = ({"r": np.eye(4)}, {"RG": True, "rightTrig": (0.7,)})
    frame = source.get()
    assert frame.pressed("RG") and frame.analog("rightTrig") == 0.7 and frame.left is None
    now[0] = 0.6
    assert source.get() is None                                 # unchanged poses: stale
    source.reader.data = ({"r": np.eye(4) + 1e-4}, {})
    assert source.get() is not None
