"""Bag ingest: fast JointState decoding, alignment to control steps, and error reporting."""
import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from dexndm_learning.joint_order import JOINT_NAMES
from dexndm_learning.ndm.bag_ingest import BagError, IngestConfig, find_bags, load_bags, read_bag
from dexndm_learning.ndm.cdr import CdrError, decode_joint_states
from dexndm_learning.ndm.steps import make_windows
from dexndm_learning.ndm.synthetic import BagBuilder, linear_steps

CFG = IngestConfig()
STATE, CMD, MARKER = CFG.state_topic, CFG.command_topic, CFG.marker_topic
PERIOD = 50_000_000
T0 = 1_000_000_000
START, END, ABORT = 0, 1, 2
W = 10
STORAGES = ["sqlite3", "mcap"]


def control_bag(n=40, seed=0):
    steps = linear_steps(1, n, seed=seed)
    b = BagBuilder()
    b.control_run(steps.q, steps.a, T0)
    return b, steps


# --- fast decoder -----------------------------------------------------------------------------

def test_fast_decoder_equals_generic_decoder_on_mixed_layouts():
    rng = np.random.default_rng(0)
    b = BagBuilder()
    permuted = list(JOINT_NAMES[8:] + JOINT_NAMES[:8])
    for i in range(300):
        kind = i % 5
        n = 16 if kind < 4 else 3
        names = {0: JOINT_NAMES, 1: permuted, 2: [], 3: JOINT_NAMES, 4: ["a", "bb", "ccc"]}[kind]
        frame = "palm" if kind != 3 else "hand"   # kinds 0, 1, 3: same length, other bytes
        b.joint_state(STATE, T0 + i, rng.normal(size=n), names=names,
                      stamp_ns=int(rng.integers(0, 2**31 - 1)) * 1_000_000_000 + int(rng.integers(0, 10**9)),
                      frame_id=frame)
    raws = [m[3] for m in b.messages]
    stamps, groups = decode_joint_states(raws)
    typestore = get_typestore(Stores.LATEST)
    seen = np.zeros(len(raws), dtype=int)
    for rows, names, position in groups:
        for row, pos in zip(rows, position):
            msg = typestore.deserialize_cdr(raws[row], "sensor_msgs/msg/JointState")
            assert tuple(msg.name) == names
            np.testing.assert_array_equal(msg.position, pos)
            assert stamps[row] == msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            seen[row] += 1
    assert (seen == 1).all()
    assert len(groups) == 5


def test_fast_decoder_rejects_truncated_message():
    b, _ = control_bag(3)
    raws = [m[3] for m in b.messages]
    raws[4] = raws[4][:100]
    with pytest.raises(CdrError) as exc:
        decode_joint_states(raws)
    assert exc.value.index == 4


# --- round trips and alignment ------------------------------------------------------------------

@pytest.mark.parametrize("storage", STORAGES)
def test_round_trip(tmp_path, storage):
    b, steps = control_bag(40)
    out = read_bag(b.write(tmp_path / "bag", storage))
    np.testing.assert_array_equal(out.q, steps.q)
    np.testing.assert_array_equal(out.a, steps.a)
    assert (out.segment == 0).all()


def test_state_names_in_any_order_and_unnamed_commands(tmp_path):
    perm = np.random.default_rng(1).permutation(16)
    q, a = np.arange(16) / 10.0, -np.arange(16) / 10.0
    b = BagBuilder()
    for k in range(3):
        b.joint_state(STATE, T0 + k * PERIOD - 1, q[perm], names=[JOINT_NAMES[i] for i in perm])
        b.joint_state(CMD, T0 + k * PERIOD, a, names=[])
    out = read_bag(b.write(tmp_path / "bag", "mcap"))
    np.testing.assert_allclose(out.q, np.tile(q, (3, 1)), rtol=1e-6)
    np.testing.assert_allclose(out.a, np.tile(a, (3, 1)), rtol=1e-6)


@pytest.mark.parametrize("storage", STORAGES)
def test_window_counts_with_trajectory_markers_and_gap(tmp_path, storage):
    s = linear_steps(1, 100, seed=3)
    b = BagBuilder()
    # trajectory 0: 30 steps, then a pause of 2 control periods (> 1.5), then 25 more steps
    b.marker(MARKER, T0 - 1, START, 0)
    t = b.control_run(s.q[:30], s.a[:30], T0)
    t = b.control_run(s.q[30:55], s.a[30:55], t + PERIOD)
    b.marker(MARKER, t - PERIOD + 1, END, 0)          # just after the last command of traj 0
    # 7 steps outside any trajectory (e.g. moving to the next start pose): dropped
    t = b.control_run(s.q[55:62], s.a[55:62], t + PERIOD)
    # trajectory 1: 38 steps, directly after its START marker (same time as its first command)
    b.marker(MARKER, t, START, 1)
    b.control_run(s.q[62:], s.a[62:], t)
    out = read_bag(b.write(tmp_path / "bag", storage))
    assert len(out) == 30 + 25 + 38
    assert [int((out.segment == k).sum()) for k in np.unique(out.segment)] == [30, 25, 38]
    np.testing.assert_array_equal(out.q, np.concatenate([s.q[:55], s.q[62:]]))
    w = make_windows(out, W)
    assert len(w.next_q) == (30 - W) + (25 - W) + (38 - W)


def test_steps_without_a_recent_state_are_dropped(tmp_path):
    b, steps = control_bag(40)
    # no state messages for commands 20..24 (the latest state would be older than half a period)
    lo, hi = T0 + 19 * PERIOD + 1, T0 + 24 * PERIOD
    b.messages = [m for m in b.messages if not (m[0] == STATE and lo <= m[2] <= hi)]
    out = read_bag(b.write(tmp_path / "bag", "mcap"))
    assert len(out) == 40 - 5
    assert [int((out.segment == k).sum()) for k in np.unique(out.segment)] == [20, 15]


# --- errors -----------------------------------------------------------------------------------

def _error(tmp_path, builder, storage="mcap") -> str:
    path = builder.write(tmp_path / "bag", storage)
    with pytest.raises(BagError) as exc:
        read_bag(path)
    assert str(path) in str(exc.value)
    return str(exc.value)


@pytest.mark.parametrize("storage", STORAGES)
def test_missing_topic(tmp_path, storage):
    b, _ = control_bag(5)
    b.messages = [m for m in b.messages if m[0] != CMD]
    msg = _error(tmp_path, b, storage)
    assert CMD in msg and "missing" in msg


def test_wrong_joint_count(tmp_path):
    b, _ = control_bag(5)
    b.joint_state(STATE, T0 + 2 * PERIOD + 1, np.zeros(15), names=JOINT_NAMES[:15])
    msg = _error(tmp_path, b)
    assert STATE in msg and "message 11" in msg and f"t={T0 + 2 * PERIOD + 1} ns" in msg
    assert "15 joint positions" in msg


def test_wrong_joint_names(tmp_path):
    b, _ = control_bag(5)
    b.joint_state(CMD, T0 + 3 * PERIOD + 1, np.zeros(16), names=("index_0",) + JOINT_NAMES[1:])
    msg = _error(tmp_path, b)
    assert CMD in msg and "message 4" in msg and "index_0" in msg


def test_nan_value(tmp_path):
    b, _ = control_bag(5)
    q = np.zeros(16)
    q[3] = np.nan
    b.joint_state(CMD, T0 + 1 * PERIOD + 1, q)
    msg = _error(tmp_path, b)
    assert CMD in msg and "message 2" in msg and "non-finite" in msg


def test_time_going_backwards(tmp_path):
    b, _ = control_bag(5)
    b.joint_state(STATE, T0 + 3 * PERIOD + 1, np.zeros(16), stamp_ns=T0 - PERIOD)
    msg = _error(tmp_path, b)
    assert STATE in msg and "message 16" in msg and "backwards" in msg


@pytest.mark.parametrize("storage", STORAGES)
def test_truncated_file(tmp_path, storage):
    b, _ = control_bag(200)
    path = b.write(tmp_path / "bag", storage)
    data_file = next(p for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])
    with pytest.raises(BagError) as exc:
        read_bag(path)
    assert str(path) in str(exc.value)


def test_corrupt_message_bytes_in_file(tmp_path):
    b, _ = control_bag(20)
    path = b.write(tmp_path / "bag", "mcap")
    commands = [m for m in b.messages if m[0] == CMD]
    data_file = next(path.glob("*.mcap"))
    data = bytearray(data_file.read_bytes())
    at = data.find(commands[7][3])
    assert at > 0
    data[at + 12:at + 16] = b"\xff\xff\xff\xff"     # frame_id length of command 7
    data_file.write_bytes(bytes(data))
    with pytest.raises(BagError) as exc:
        read_bag(path)
    msg = str(exc.value)
    assert str(path) in msg and CMD in msg and "message 7" in msg and "undecodable" in msg


def test_multi_bag_load_continues_past_a_bad_bag(tmp_path):
    good1, steps1 = control_bag(30, seed=1)
    good1.write(tmp_path / "a_good", "mcap")
    bad, _ = control_bag(30, seed=2)
    bad.joint_state(STATE, T0 + 5 * PERIOD + 1, np.full(16, np.inf))
    bad.write(tmp_path / "b_bad", "sqlite3")
    good2, steps2 = control_bag(25, seed=3)
    good2.write(tmp_path / "c_good", "sqlite3")
    steps, errors = load_bags(tmp_path)
    assert len(errors) == 1 and errors[0].path == tmp_path / "b_bad" and errors[0].topic == STATE
    np.testing.assert_array_equal(steps.q, np.concatenate([steps1.q, steps2.q]))
    assert [int((steps.segment == k).sum()) for k in np.unique(steps.segment)] == [30, 25]


# --- interrupted recordings (a killed ros2 bag record) ---------------------------------------------

def _kill_recording(path, cut_to=None):
    """What a killed recorder leaves: no metadata.yaml, and (``cut_to``) the file cut short."""
    (path / "metadata.yaml").unlink()
    data = next(p for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
    if cut_to is not None:
        data.write_bytes(data.read_bytes()[:int(data.stat().st_size * cut_to)])
    return path


@pytest.mark.parametrize("storage", STORAGES)
def test_a_bag_without_metadata_is_read_from_its_storage_file(tmp_path, storage, caplog):
    b, steps = control_bag(40)
    path = _kill_recording(b.write(tmp_path / "bag", storage))
    out = read_bag(path)
    np.testing.assert_array_equal(out.q, steps.q)
    np.testing.assert_array_equal(out.a, steps.a)
    assert "interrupted recording" in caplog.text and "ros2 bag reindex" in caplog.text     # said, not silent


def test_an_mcap_cut_off_mid_file_keeps_its_complete_messages(tmp_path, caplog):
    b, steps = control_bag(3000)                                               # ~3 MB: a few 1 MB chunks
    path = _kill_recording(b.write(tmp_path / "bag", "mcap"), cut_to=0.6)   # no summary, no footer
    out = read_bag(path)
    assert 0 < len(out.q) < len(steps.q)
    np.testing.assert_array_equal(out.q, steps.q[:len(out.q)])                 # a prefix, nothing invented
    np.testing.assert_array_equal(out.a, steps.a[:len(out.a)])
    assert "complete messages kept" in caplog.text


def test_an_unreadable_storage_file_names_the_folder_and_the_fix(tmp_path):
    path = tmp_path / "bag"
    path.mkdir()
    (path / "bag_0.mcap").write_bytes(b"not an mcap file at all")
    with pytest.raises(BagError) as exc:
        read_bag(path)
    assert str(path) in str(exc.value) and "ros2 bag reindex" in str(exc.value)


def test_good_interrupted_and_empty_folders_together(tmp_path):
    good, steps1 = control_bag(30, seed=1)
    good.write(tmp_path / "a_good", "mcap")
    cut, steps2 = control_bag(25, seed=2)
    _kill_recording(cut.write(tmp_path / "b_killed", "sqlite3"))
    (tmp_path / "c_empty").mkdir()
    steps, errors = load_bags([tmp_path / "a_good", tmp_path / "b_killed", tmp_path / "c_empty"])
    assert [e.path for e in errors] == [tmp_path / "c_empty"] and "no rosbag2 bag" in str(errors[0])
    np.testing.assert_array_equal(steps.q, np.concatenate([steps1.q, steps2.q]))
    assert len(find_bags(tmp_path)) == 2                                     # the killed one is found too
