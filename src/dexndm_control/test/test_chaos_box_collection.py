"""Chaos Box collection: replay plans (noise statistics, joint limits, determinism), a recording
round trip through the nodes into bags that bag ingest cuts into the right windows, and a
collection that is killed and resumed."""
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from dexndm_control.chaos_box import chaos_replay as cr
from dexndm_control import cli
from dexndm_control.chaos_box.chaos_progress import CollectionProgress
from dexndm_control.sim.sim_reality import RealityHand
from dexndm_control.sim.sim_scene import SETTLE_S, scene_sim
from dexndm_learning import joint_order as jo
from dexndm_learning.data.rollout_dataset import RolloutWriter
from dexndm_learning.ndm.bag_ingest import MARKER_TYPE, load_bags, marker_definition
from dexndm_learning.ndm.steps import make_windows
from dexndm_learning.sim.hand_model import HandConfig
from dexndm_learning.sim.reality import RealityProfile
from dexndm_learning.sim.wrist import wrist_quat

MID = (jo.LOWER + jo.UPPER) / 2
WINDOW = 10            # config/ndm.yaml model.window
T = 20


def zero_source(k=3, steps=50):
    return cr.ActionSource(np.zeros((k, steps, 16)), np.tile(MID, (k, 1)))


def write_actions(path, k=4, steps=T, seed=0):
    np.savez(path, actions=np.random.default_rng(seed).normal(0, 1, (k, steps, 16)))
    return path


# ------------------------------------------------------------------ replay plans (no ROS)
@pytest.mark.parametrize("probability, sigma", [(0.5, 0.01), (0.2, 0.02)])
def test_noisy_fraction_and_noise_sigma(probability, sigma):
    source, noise = zero_source(), cr.NoiseConfig(probability, sigma, seed=3)
    plans = [cr.plan_trajectory(source, i, noise) for i in range(2000)]
    noisy = np.array([p.noisy for p in plans])
    assert abs(noisy.mean() - probability) < 0.04
    # zero actions from mid-range: a target is the start plus its own noise (radians, no clamping)
    added = np.stack([p.targets - p.start for p in plans])
    assert np.std(added[noisy]) == pytest.approx(sigma, rel=0.03) and abs(np.mean(added[noisy])) < 0.05 * sigma
    assert not added[~noisy].any()
    assert {p.sigma for p in plans} == {0.0, sigma}
    assert all(p.sigma == (sigma if p.noisy else 0.0) for p in plans)


def test_trajectory_i_is_the_same_in_every_run():
    source = cr.ActionSource(np.random.default_rng(0).normal(0, 1, (3, 30, 16)), np.tile(MID, (3, 1)))
    noise = cr.NoiseConfig(seed=7)
    for i in (0, 4, 11):
        a, b = cr.plan_trajectory(source, i, noise), cr.plan_trajectory(source, i, noise)
        assert a.noisy == b.noisy and np.array_equal(a.targets, b.targets) and a.source_index == i % 3
    noisy = [i for i in range(40) if cr.plan_trajectory(source, i, noise).noisy]
    other = cr.NoiseConfig(seed=8)
    assert noisy != [i for i in range(40) if cr.plan_trajectory(source, i, other).noisy]


def test_targets_never_leave_the_joint_limits():
    """Actions that push past the limits in both directions, with noise, from a start at a limit."""
    steps = 200        # actions are clipped to +-1: 100 steps move a joint 100/24 rad, past any range
    push = np.where(np.arange(steps)[:, None] < 100, 200.0, -200.0) * np.ones(16)
    source = cr.ActionSource(np.stack([push, -push]), np.stack([jo.UPPER, jo.LOWER]))
    for i in range(20):
        plan = cr.plan_trajectory(source, i, cr.NoiseConfig(probability=1.0, sigma=0.5))
        assert all(jo.within_limits(q, tol=0) for q in plan.targets)
        assert np.array_equal(plan.targets.max(axis=0), jo.UPPER) and np.array_equal(plan.targets.min(axis=0), jo.LOWER)
        q_from = jo.UPPER + 0.05           # a measured pose past the limits (sensor bias)
        for tick in cr.trajectory_ticks(plan, jo.clip_to_limits(q_from), 20, 10):
            if tick.target is not None:
                jo.validate_targets(tick.target, tol=0)


def test_trajectory_ticks():
    plan = cr.plan_trajectory(zero_source(steps=T), 0, cr.NoiseConfig(probability=1.0))
    ticks = cr.trajectory_ticks(plan, jo.OPEN_POSE, move_steps=20, hold_steps=10)
    assert len(ticks) == 20 + 10 + T + 1
    assert [k for k, t in enumerate(ticks) if t.event] == [30, 30 + T]
    assert ticks[30].event == cr.START and np.array_equal(ticks[30].target, plan.targets[0])
    assert ticks[-1].event == cr.END and ticks[-1].target is None
    move = np.array([jo.OPEN_POSE] + [t.target for t in ticks[:20]])
    assert np.array_equal(move[-1], plan.start)
    max_step = np.pi / (2 * 20) * np.abs(plan.start - jo.OPEN_POSE)      # cosine ramp: gentlest at the ends
    assert np.all(np.abs(np.diff(move, axis=0)) <= max_step + 1e-12)
    assert np.all(np.abs(move[1] - move[0]) <= 0.1 * max_step)
    np.testing.assert_array_equal(np.array([t.target for t in ticks[30:-1]]), plan.targets)


def test_load_source_from_a_dataset_filters_by_wrist_and_from_an_npz(tmp_path):
    writer = RolloutWriter(tmp_path / "ds", steps=T, shard_episodes=3)
    rng = np.random.default_rng(0)
    for e in range(7):
        wrist = wrist_quat("palm_down" if e % 2 else "thumb_up") * (-1) ** e   # q and -q both count
        targets = np.tile(MID + 0.01 * e, (T + 1, 1))
        writer.add(q=targets, targets=targets, actions=rng.normal(size=(T, 16)), obj_pos=np.zeros((T + 1, 3)),
                   obj_quat=np.tile([1, 0, 0, 0], (T + 1, 1)), axis=[0, 0, 1], wrist=wrist, object_id=0)
    writer.close()
    src = cr.load_source(tmp_path / "ds", "palm_down", steps=15)
    assert src.actions.shape == (3, 15, 16)
    np.testing.assert_allclose(src.starts, np.stack([MID + 0.01 * e for e in (1, 3, 5)]), atol=1e-6)
    with pytest.raises(ValueError, match="no episodes"):
        cr.load_source(tmp_path / "ds", "base_up")
    src = cr.load_source(write_actions(tmp_path / "a.npz"), "palm_down")
    assert src.actions.shape == (4, T, 16) and np.array_equal(src.starts[2], jo.CANONICAL_GRASP)
    with pytest.raises(ValueError, match="steps asked"):
        cr.load_source(tmp_path / "a.npz", "palm_down", steps=T + 1)


def test_a_targets_npz_is_replayed_as_it_is(tmp_path):
    from dexndm_learning.data.wave_targets import WaveConfig, wave_targets

    targets, _, _ = wave_targets(3, WaveConfig(steps=T, w_low=2.0, w_high=4.0))
    np.savez(tmp_path / "t.npz", targets=targets)
    src = cr.load_source(tmp_path / "t.npz", "palm_up")
    np.testing.assert_array_equal(src.starts, targets[:, 0])
    for i in (0, 4):                  # trajectory 4 replays source 1
        plan = cr.plan_trajectory(src, i, cr.NoiseConfig(probability=0.0))
        np.testing.assert_array_equal(plan.targets, targets[i % 3])
    plan = cr.plan_trajectory(src, 1, cr.NoiseConfig(probability=1.0, sigma=0.01))
    assert plan.noisy and 0.005 < np.std(plan.targets - targets[1]) < 0.015
    np.savez(tmp_path / "bad.npz", targets=np.full((2, T, 16), np.nan))
    with pytest.raises(ValueError, match="non-finite targets"):
        cr.load_source(tmp_path / "bad.npz", "palm_up")


# ------------------------------------------------------------------ the simulated hand under load
def test_scene_and_reality_profile_of_the_simulated_hand():
    cfg = HandConfig.load("hand")
    sim = scene_sim("chaos_box", cfg, "palm_down", n_balls=5)
    assert sum(sim.model.body(b).name.startswith("ball_") for b in range(sim.model.nbody)) == 5
    assert sim.time == pytest.approx(SETTLE_S) and np.allclose(sim.targets, jo.CANONICAL_GRASP)
    nominal_kp = sim.model.actuator_gainprm[:16, 0].copy()
    hand = RealityHand(sim, RealityProfile(latency_steps=1, sensor_bias=0.01, kp_scale=0.5))
    np.testing.assert_allclose(sim.model.actuator_gainprm[:16, 0], 0.5 * nominal_kp)
    q = jo.CANONICAL_GRASP + 0.1 * jo.FLEXION_JOINTS
    hand.set_targets(q)
    hand.step(cfg.substeps)                 # one control period: still the old target (latency 1)
    np.testing.assert_allclose(sim.targets, jo.CANONICAL_GRASP)
    hand.step(cfg.substeps)
    np.testing.assert_allclose(sim.targets, q)
    np.testing.assert_allclose(hand.measured_positions() - sim.joint_positions(), 0.01)


# ------------------------------------------------------------------ nodes and bags
def collect_args(npz, out, *extra):
    return ["collect", "chaos-box", "--actions", str(npz), "--wrist", "palm_down", "--steps", str(T),
            "--out", str(out), *extra]


def bag_markers(bag):
    typestore = get_typestore(Stores.LATEST)
    typestore.register(get_types_from_msg(marker_definition(), MARKER_TYPE))
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic == "/chaos_box/trajectory"]
        return [typestore.deserialize_cdr(raw, MARKER_TYPE) for _, _, raw in reader.messages(conns)]


def test_recording_round_trip_through_the_nodes(tmp_path):
    """A small Chaos Box under the worn-hand profile, paced by the sim clock: every replayed target
    is in the bags, and bag ingest cuts them into T - WINDOW windows per trajectory."""
    from dexndm_control.chaos_box import chaos_collect

    npz = write_actions(tmp_path / "a.npz")
    args = cli.build_parser().parse_args(collect_args(npz, tmp_path / "out", "--trajectories", "3", "--per-bag", "2",
                                                      "--profile", "worn_hand", "--balls", "8", "--rtf", "10"))
    result = chaos_collect.run(cli.chaos_box_specs(args))
    assert result["completed"] == 3 and result["bags"] == ["bag_00000", "bag_00001"] and not result["interrupted"]
    steps, errors = load_bags(tmp_path / "out")
    assert errors == []
    assert len(steps) == 3 * T and len(np.unique(steps.segment)) == 3
    assert len(make_windows(steps, WINDOW).next_q) == 3 * (T - WINDOW)
    source, noise = cr.load_source(npz, "palm_down"), cr.NoiseConfig()
    plans = [cr.plan_trajectory(source, i, noise) for i in range(3)]
    np.testing.assert_allclose(steps.a, np.concatenate([p.targets for p in plans]), atol=1e-6)
    markers = [m for b in ("bag_00000", "bag_00001") for m in bag_markers(tmp_path / "out" / b)]
    assert [(m.trajectory_index, m.event) for m in markers] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert [m.noisy for m in markers[::2]] == [p.noisy for p in plans]
    assert {m.wrist for m in markers} == {"palm_down"}

    # The scene rides along, so Foxglove shows the hand: read back with the mcap library (what
    # Foxglove reads) and with rosbags (ROS types).
    from mcap.reader import make_reader
    from dexndm_control.viz.hand_frames import HandFrames

    bag = tmp_path / "out" / "bag_00000"
    with open(next(bag.glob("*.mcap")), "rb") as f:
        count = {}
        for _, channel, _ in make_reader(f).iter_messages():
            count[channel.topic] = count.get(channel.topic, 0) + 1
    assert count["/robot_description"] == 1 and count["/tf"] == count["/leap_hand/joint_states"] > 0
    typestore = get_typestore(Stores.LATEST)
    with Reader(bag) as reader:
        conn = {c.topic: c for c in reader.connections}
        urdf = typestore.deserialize_cdr(next(reader.messages([conn["/robot_description"]]))[2], "std_msgs/msg/String")
        states = [typestore.deserialize_cdr(r, "sensor_msgs/msg/JointState")
                  for _, _, r in reader.messages([conn["/leap_hand/joint_states"]])]
        tfs = [typestore.deserialize_cdr(r, "tf2_msgs/msg/TFMessage") for _, _, r in reader.messages([conn["/tf"]])]
    assert urdf.data.startswith("<?xml") and '<robot name="leap_hand' in urdf.data
    want = HandFrames(wrist="palm_down").poses(jo.reorder_by_names(states[-1].position, states[-1].name))
    got = {t.child_frame_id: t for t in tfs[-1].transforms}
    for parent, child, pos, quat in want:               # the last state's frames, body by body
        t = got[child].transform
        assert got[child].header.frame_id == parent
        np.testing.assert_allclose([t.translation.x, t.translation.y, t.translation.z], pos, atol=1e-9)
        np.testing.assert_allclose([t.rotation.w, t.rotation.x, t.rotation.y, t.rotation.z], quat, atol=1e-9)


def _start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "dexndm_control.cli", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _wait_for(condition, proc, what, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if condition():
            return
        time.sleep(0.02)
    pytest.fail(f"collection never got to {what} (exit code {proc.poll()})")


@pytest.mark.realtime
def test_killed_collection_resumes_without_duplicates_or_gaps(tmp_path):
    n = 8
    out = tmp_path / "out"
    args = collect_args(write_actions(tmp_path / "a.npz"), out, "--trajectories", str(n), "--per-bag", "2",
                        "--scene", "hand", "--rtf", "4")
    # 1: hard kill while the second bag is open (trajectory 2 in it); that bag is discarded on restart
    proc = _start(args, tmp_path)
    _wait_for(lambda: (out / "bag_00001").is_dir(), proc, "a second bag")
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = CollectionProgress(out).completed
    assert done == [0, 1] and not (out / "bag_00001" / "metadata.yaml").exists()
    # 2: clean stop (SIGTERM) in the middle of a trajectory: only that one is lost
    proc = _start(args, tmp_path)
    _wait_for(lambda: len(CollectionProgress(out).bags) >= 2, proc, "two complete bags")
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=30)
    stopped = json.loads(stdout[stdout.index("{"):stdout.rindex("}") + 1])
    assert proc.returncode == 130 and stopped["interrupted"] and stopped["resumed_at"] == len(done)
    assert stopped["completed"] >= stopped["last_started"]
    # 3: to the end
    proc = _start(args, tmp_path)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, stdout
    assert json.loads(stdout[stdout.index("{"):])["resumed_at"] == stopped["completed"]
    progress = CollectionProgress(out)
    assert progress.completed == list(range(n))
    bags = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert bags == [b["name"] for b in progress.bags]
    starts = [m.trajectory_index for b in bags for m in bag_markers(out / b) if m.event == 0]
    assert starts == list(range(n))
    steps, errors = load_bags(out)
    assert errors == [] and len(steps) == n * T and len(make_windows(steps, WINDOW).next_q) == n * (T - WINDOW)


def test_a_full_disk_discards_the_bag_in_progress_and_keeps_the_complete_ones(tmp_path, monkeypatch):
    """ENOSPC while the second bag is written: the collection stops with a message that says what
    happened; bag 0 and progress.json stay valid; a rerun (with space again) continues."""
    import errno

    from rosbags.rosbag2 import Writer

    from dexndm_control.chaos_box import chaos_collect
    from dexndm_control.ros.node_main import FatalNodeError

    write = Writer.write

    def full_disk(self, *args, **kwargs):
        if self.path.name == "bag_00001":
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(self, *args, **kwargs)

    monkeypatch.setattr(Writer, "write", full_disk)
    npz = write_actions(tmp_path / "a.npz")
    args = cli.build_parser().parse_args(collect_args(npz, tmp_path / "out", "--trajectories", "4", "--per-bag", "2",
                                                      "--scene", "hand", "--rtf", "10"))
    with pytest.raises(FatalNodeError, match=r"bag_00001 .*No space left.*discarded.*1 complete bags"):
        chaos_collect.run(cli.chaos_box_specs(args))
    progress = CollectionProgress(tmp_path / "out")
    assert [b["name"] for b in progress.bags] == ["bag_00000"] and progress.completed == [0, 1]
    assert not (tmp_path / "out" / "bag_00001").exists()
    steps, errors = load_bags(tmp_path / "out")
    assert errors == [] and len(np.unique(steps.segment)) == 2
    monkeypatch.setattr(Writer, "write", write)                     # space freed: the same command continues
    result = chaos_collect.run(cli.chaos_box_specs(args))
    assert result["completed"] == 4 and result["resumed_at"] == 2
