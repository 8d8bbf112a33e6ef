"""Bag ingest speed: our vectorized JointState ingest vs rosbags' generic deserialization.

Writes one mcap bag (10k control steps: 10k commands + 40k states = 50k JointState messages) in
a temporary directory, then reads it both ways in this process, best of 5 each:
- ours: ``read_bag`` (read raw messages, decode, validate, align into control steps);
- generic: the same raw reading, ``typestore.deserialize_cdr`` per message, positions and header
  stamps collected into numpy arrays.
Both include rosbags' raw message reading (about 2 us per message here), which bounds the
end-to-end ratio; the decode-only ratio (same raw messages, no reading) is printed as well.
Last line: ``bag_ingest_speedup=<ours msg/s / generic msg/s>``, end to end (target >= 5).
"""
import tempfile
import time
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from dexndm_learning.ndm.bag_ingest import JOINT_STATE_TYPE, IngestConfig, read_bag
from dexndm_learning.ndm.cdr import decode_joint_states
from dexndm_learning.ndm.synthetic import BagBuilder, linear_steps

STEPS = 10_000
STATES_PER_STEP = 4


def generic(path: Path, topics) -> int:
    typestore = get_typestore(Stores.LATEST)
    with Reader(path) as reader:
        conns = [c for c in reader.connections if c.topic in topics]
        per_topic = {t: ([], []) for t in topics}
        for conn, _, raw in reader.messages(conns):
            msg = typestore.deserialize_cdr(raw, JOINT_STATE_TYPE)
            stamps, positions = per_topic[conn.topic]
            stamps.append(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
            positions.append(msg.position)
    arrays = {t: (np.array(s), np.array(p)) for t, (s, p) in per_topic.items()}
    return sum(len(s) for s, _ in arrays.values())


def best_time(fn, repeats=5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    cfg = IngestConfig()
    steps = linear_steps(1, STEPS, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        builder = BagBuilder()
        builder.control_run(steps.q, steps.a, 1_000_000_000, cfg, states_per_step=STATES_PER_STEP)
        bag = builder.write(Path(tmp) / "bench", "mcap")
        n_msgs = len(builder.messages)
        assert generic(bag, [cfg.state_topic, cfg.command_topic]) == n_msgs
        assert len(read_bag(bag, cfg)) == STEPS
        t_ours = best_time(lambda: read_bag(bag, cfg))
        t_generic = best_time(lambda: generic(bag, [cfg.state_topic, cfg.command_topic]))
        with Reader(bag) as reader:
            raws = [raw for _, _, raw in reader.messages()]
    typestore = get_typestore(Stores.LATEST)
    t_decode = best_time(lambda: decode_joint_states(raws))
    t_deser = best_time(lambda: np.array([typestore.deserialize_cdr(r, JOINT_STATE_TYPE).position
                                          for r in raws]))
    print(f"messages: {n_msgs} JointState (mcap)")
    print(f"decode only: ours {n_msgs / t_decode:.0f} msg/s, generic {n_msgs / t_deser:.0f} msg/s, "
          f"ratio {t_deser / t_decode:.1f}")
    print(f"ours:    {n_msgs / t_ours:10.0f} msg/s  ({t_ours * 1e3:.0f} ms)")
    print(f"generic: {n_msgs / t_generic:10.0f} msg/s  ({t_generic * 1e3:.0f} ms)")
    print(f"bag_ingest_speedup={t_generic / t_ours:.2f}")


if __name__ == "__main__":
    main()
