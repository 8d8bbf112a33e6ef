"""rosbag2 bags (sqlite3 or mcap) -> 20 Hz control steps for the neural dynamics model.

Reads raw messages with ``rosbags`` (no ROS install needed) and decodes JointState with the
vectorized decoder of ``cdr``. Topics (``IngestConfig``): measured state (sensor_msgs/JointState,
sim angles, our joint names in any order), commands (sensor_msgs/JointState position targets;
names may be empty, meaning MJ order) and optional trajectory markers
(dexndm_msgs/msg/TrajectoryMarker, decoded from the definition stored in the bag or, failing
that, from ``dexndm_msgs/msg/TrajectoryMarker.msg``).

Alignment rule (all times are the bag's log times, i.e. the recorder's receive clock, the one
clock every topic shares whatever its publisher stamped):

- every command message is one control step k at its log time t_k, with a_k = its targets;
- q_k = the latest state message at or before t_k (so it was measured before a_k could act);
  the step is unusable if there is none or it is older than ``max_state_age`` control periods;
- the next state of step k is therefore q_{k+1}, the state just before the next command;
- with markers in the bag, a step belongs to the trajectory of the latest marker at or before
  it (a marker and a command with equal times: the command is already in the new trajectory);
  steps after an END or ABORT marker and before the next START, or before the first marker,
  are not part of any trajectory and are dropped;
- consecutive usable steps stay in one segment unless a marker lies between them or their
  commands are more than ``max_gap`` control periods apart; windows never cross segments.

Every problem in a bag raises ``BagError`` naming the bag, the topic and the message index (per
topic, 0-based) and log time: a missing or empty topic, the wrong message type, wrong joint
count or names, NaN/inf values, header stamps going backwards within a topic, an undecodable
message, or a truncated/corrupt file. ``load_bags`` keeps going past bad bags and returns their
errors next to the data of the good ones.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter
from pathlib import Path
from typing import Sequence

import numpy as np
from rosbags.interfaces import MessageDefinitionFormat
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from dexndm_learning.config import repo_root
from dexndm_learning.joint_order import JOINT_NAMES, NUM_JOINTS
from dexndm_learning.ndm import bag_recovery
from dexndm_learning.ndm.cdr import CdrError, decode_joint_states
from dexndm_learning.ndm.steps import Steps
from dexndm_learning.policy.contract import CONTROL_DT

JOINT_STATE_TYPE = "sensor_msgs/msg/JointState"
MARKER_TYPE = "dexndm_msgs/msg/TrajectoryMarker"
EVENT_START = 0   # TrajectoryMarker.EVENT_START; END = 1 and ABORT = 2 both close a trajectory
log = logging.getLogger(__name__)


@dataclass
class IngestConfig:
    """How bags are read and cut into control steps (``ingest:`` in ``config/ndm.yaml``)."""

    state_topic: str = "/leap_hand/joint_states"
    command_topic: str = "/leap_hand/joint_commands"
    marker_topic: str = "/chaos_box/trajectory"   # "" = ignore trajectory markers
    control_period: float = CONTROL_DT             # s (20 Hz)
    max_gap: float = 1.5                           # control periods between steps of a segment
    max_state_age: float = 0.5                     # control periods; older state = unusable step


class BagError(Exception):
    """A bag that cannot be used; the message names the bag and where in it the problem is."""

    def __init__(self, path, reason: str, topic: str | None = None, index: int | None = None,
                 log_time_ns: int | None = None):
        where = [f"topic {topic}"] if topic else []
        if index is not None:
            where.append(f"message {index}")
        if log_time_ns is not None:
            where.append(f"t={int(log_time_ns)} ns")
        super().__init__(f"{path}: {', '.join(where) + ': ' if where else ''}{reason}")
        self.path, self.topic, self.index, self.reason = Path(path), topic, index, reason


def marker_definition() -> str:
    """Text of TrajectoryMarker.msg from the checkout or the installed dexndm_msgs package."""
    candidates = []
    root = repo_root()
    if root is not None:
        candidates.append(root / "src" / "dexndm_msgs" / "msg" / "TrajectoryMarker.msg")
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("dexndm_msgs")) / "msg" / "TrajectoryMarker.msg")
    except Exception:  # noqa: BLE001 - no ROS install: only the checkout can provide it
        pass
    for c in candidates:
        if c.exists():
            return c.read_text()
    raise FileNotFoundError(f"TrajectoryMarker.msg not found (looked in {candidates})")


def _read_raw(path: Path, topics: list[str]) -> tuple[list[str], dict[str, tuple]]:
    """One pass over the bag: the topics it has, and per wanted topic its connections, log
    times (ns) and raw messages. A folder of a killed recording (no metadata.yaml) is read from
    its storage files (``bag_recovery``)."""
    if bag_recovery.is_interrupted_bag(path):
        storage = "mcap" if any(f.suffix == ".mcap" for f in bag_recovery.storage_files(path)) else "sqlite3"
        hint = bag_recovery.REINDEX_HINT.format(path=path, storage=storage)
        try:
            present, per_topic, notes = bag_recovery.read_storage(path, topics)
        except bag_recovery.RecoveryError as exc:
            raise BagError(path, f"interrupted recording (no metadata.yaml) that cannot be read: {exc}; {hint}") from exc
        log.warning("%s: interrupted recording (no metadata.yaml), read from its storage files%s; %s",
                    path, "".join(f"; {n}" for n in notes), hint)
        return present, per_topic
    if not (path / "metadata.yaml").exists():
        raise BagError(path, "no rosbag2 bag here (neither metadata.yaml nor a .mcap / .db3 file)")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:  # noqa: BLE001 - rosbags/apsw/OS errors all mean an unreadable bag
        raise BagError(path, f"cannot open bag: {type(exc).__name__}: {exc}") from exc
    try:
        present = sorted({c.topic for c in reader.connections})
        conns = [c for c in reader.connections if c.topic in topics]
        items: list = []
        try:
            if conns:       # (an empty connection list would mean "all topics" to rosbags)
                items.extend(reader.messages(conns))
        except Exception as exc:  # noqa: BLE001
            last = items[-1] if items else None
            raise BagError(path, f"corrupt or truncated bag after {len(items)} messages: "
                                 f"{type(exc).__name__}: {exc}",
                           topic=last[0].topic if last else None,
                           log_time_ns=last[1] if last else None) from exc
    finally:
        reader.close()
    n = len(items)
    conn_ids = np.fromiter(map(id, map(itemgetter(0), items)), dtype=np.int64, count=n)
    times = np.fromiter(map(itemgetter(1), items), dtype=np.int64, count=n)
    raws = list(map(itemgetter(2), items))
    per_topic = {}
    for topic in topics:
        mine = [c for c in conns if c.topic == topic]
        is_mine = np.isin(conn_ids, [id(c) for c in mine])
        per_topic[topic] = (mine, times[is_mine], list(compress(raws, is_mine.tolist())))
    return present, per_topic


def _joint_positions(path, topic: str, log_times: np.ndarray, raws: list[bytes],
                     allow_unnamed: bool) -> np.ndarray:
    """(N, 16) positions in MJ order from JointState messages, validated."""
    try:
        stamps, groups = decode_joint_states(raws)
    except CdrError as exc:
        raise BagError(path, f"undecodable JointState: {exc.reason}", topic, exc.index,
                       log_times[exc.index]) from exc
    q = np.empty((len(raws), NUM_JOINTS))
    for rows, names, position in groups:
        first = int(rows[0])
        if position.shape[1] != NUM_JOINTS:
            raise BagError(path, f"{position.shape[1]} joint positions, expected {NUM_JOINTS}",
                           topic, first, log_times[first])
        if names == JOINT_NAMES or (allow_unnamed and not names):
            q[rows] = position
        elif sorted(names) == sorted(JOINT_NAMES):
            q[rows] = position[:, [names.index(n) for n in JOINT_NAMES]]
        else:
            raise BagError(path, f"joint names {list(names)} are not our 16 joints "
                                 f"{list(JOINT_NAMES)}", topic, first, log_times[first])
    bad = np.flatnonzero(~np.isfinite(q).all(axis=1))
    if bad.size:
        i = int(bad[0])
        raise BagError(path, f"non-finite position {q[i].tolist()}", topic, i, log_times[i])
    # log times come sorted from the reader; the publisher's header stamps must not go back
    back = np.flatnonzero(np.diff(stamps) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise BagError(path, f"header stamp goes backwards ({stamps[i]} ns after {stamps[i - 1]} ns)",
                       topic, i, log_times[i])
    return q


def _marker_events(path, conns, log_times: np.ndarray, raws: list[bytes]) -> np.ndarray:
    """Event code of every marker message (START = 0, END = 1, ABORT = 2)."""
    topic = conns[0].topic
    if any(c.msgtype != MARKER_TYPE for c in conns):
        raise BagError(path, f"type {conns[0].msgtype}, expected {MARKER_TYPE}", topic)
    stored = next((c.msgdef.data for c in conns
                   if c.msgdef.format == MessageDefinitionFormat.MSG and c.msgdef.data), None)
    typestore = get_typestore(Stores.LATEST)
    typestore.register(get_types_from_msg(stored or marker_definition(), MARKER_TYPE))
    events = np.empty(len(raws), dtype=np.int64)
    for i, raw in enumerate(raws):
        try:
            events[i] = typestore.deserialize_cdr(raw, MARKER_TYPE).event
        except Exception as exc:  # noqa: BLE001 - rosbags raises several types for bad bytes
            raise BagError(path, f"undecodable marker: {exc}", topic, i, log_times[i]) from exc
    return events


def read_bag(path: str | Path, cfg: IngestConfig = IngestConfig()) -> Steps:
    """One bag -> control steps (see the module docstring for the alignment rule)."""
    path = Path(path)
    topics = [cfg.state_topic, cfg.command_topic] + ([cfg.marker_topic] if cfg.marker_topic else [])
    present, raw = _read_raw(path, topics)
    for topic in (cfg.state_topic, cfg.command_topic):
        conns, times, _ = raw[topic]
        if not conns:
            raise BagError(path, f"topic missing; the bag has {present}", topic)
        if any(c.msgtype != JOINT_STATE_TYPE for c in conns):
            raise BagError(path, f"type {conns[0].msgtype}, expected {JOINT_STATE_TYPE}", topic)
        if not len(times):
            raise BagError(path, "topic has no messages", topic)
    t_state, raws = raw[cfg.state_topic][1:]
    q_state = _joint_positions(path, cfg.state_topic, t_state, raws, allow_unnamed=False)
    t_cmd, raws = raw[cfg.command_topic][1:]
    a = _joint_positions(path, cfg.command_topic, t_cmd, raws, allow_unnamed=True)

    period_ns = cfg.control_period * 1e9
    latest = np.searchsorted(t_state, t_cmd, side="right") - 1
    usable = latest >= 0
    usable[usable] = t_cmd[usable] - t_state[latest[usable]] <= cfg.max_state_age * period_ns

    marker_conns, t_marker, marker_raws = raw.get(cfg.marker_topic, ([], None, []))
    trajectory = np.zeros(len(t_cmd), dtype=np.int64)      # markers at or before each step
    if marker_raws:
        events = _marker_events(path, marker_conns, t_marker, marker_raws)
        trajectory = np.searchsorted(t_marker, t_cmd, side="right")
        usable &= (trajectory > 0) & (events[np.maximum(trajectory - 1, 0)] == EVENT_START)

    new_segment = np.ones(len(t_cmd), dtype=bool)
    new_segment[1:] = ((np.diff(t_cmd) > cfg.max_gap * period_ns)
                       | (np.diff(trajectory) != 0) | ~usable[:-1])
    segment = np.cumsum(new_segment) - 1
    return Steps(q_state[latest[usable]], a[usable], segment[usable])


def _is_bag(path: Path) -> bool:
    return (path / "metadata.yaml").exists() or bag_recovery.is_interrupted_bag(path)


def find_bags(path: str | Path) -> list[Path]:
    """``path`` itself if it is a bag directory (also one of a killed recording, without
    metadata.yaml), else every bag directory below it (sorted)."""
    path = Path(path)
    if _is_bag(path):
        return [path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*") if p.is_dir() and _is_bag(p))


def load_bags(paths: str | Path | Sequence[str | Path],
              cfg: IngestConfig = IngestConfig()) -> tuple[Steps, list[BagError]]:
    """All bags under ``paths`` -> (their steps joined, the errors of the bags that failed)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found = {Path(p): find_bags(p) for p in paths}
    bags = [b for found_in in found.values() for b in found_in]
    if not bags:
        raise FileNotFoundError(f"no rosbag2 bags (directories with metadata.yaml or a .mcap / .db3 file) in "
                                f"{[str(p) for p in paths]}")
    parts, errors = [], []
    for p, found_in in found.items():      # a path named on purpose that holds no bag is reported, not skipped
        if not found_in:
            errors.append(BagError(p, "no rosbag2 bag here (neither metadata.yaml nor a .mcap / .db3 file below it)"))
    for bag in bags:
        try:
            parts.append(read_bag(bag, cfg))
        except BagError as exc:
            errors.append(exc)
    return Steps.concat(parts), errors
