"""``dexndm collect chaos-box``: the "chaos_box" graph with the project's bag recorder, composed
in one process and resumable.

The collection folder (the recorder's ``out_dir``) holds the bags and ``progress.json``
(``chaos_progress.py``). A run first checks that the folder was collected with the same settings
(``SETTINGS``), then starts the replay at the trajectory after the last one in a complete bag (the
recorder discards a bag that was never closed), and runs until the recorder has written the last
trajectory. SIGINT and SIGTERM stop it cleanly: the replay stops, messages in flight are
delivered, and the open bag is closed with its complete trajectories, so only the trajectory in
progress is lost; the same command then continues. After a hard kill (SIGKILL, power loss) the
unclosed bag is discarded and its trajectories are replayed again.
"""
from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace


from dexndm_control.chaos_box.chaos_progress import CollectionProgress
from dexndm_control.graphs.composition import compose, parameters
from dexndm_control.graphs import NodeSpec
from dexndm_control.ros.node_main import running, spin_until

SETTINGS = {
    "chaos_replay": ("source", "wrist", "steps", "noise_probability", "noise_sigma", "seed"),
    "sim_hand": ("hand_config", "scene", "n_balls", "scene_seed", "reality"),
}
"""Parameters that must not change within one collection (they change what trajectory i is)."""
FLUSH_TIMEOUT_S = 10.0   # wall time from the replay's last END to that trajectory in a bag
DRAIN_S = 0.3            # on a stop: spin this long after the replay stops, so its last END is recorded


def collection_settings(specs: list[NodeSpec]) -> dict:
    return {f"{s.name}.{k}": parameters(s)[k] for s in specs for k in SETTINGS.get(s.name, ())}


def run(specs: list[NodeSpec], private: bool = False) -> dict:
    """Run the collection ``specs`` describe (hand, chaos_replay, bag_recorder) to its end or a stop;
    ``private``: invisible to other processes on the ROS domain (``node_main.running``), for a
    simulated collection inside a pipeline."""
    by_name = {s.name: s for s in specs}
    progress = CollectionProgress(parameters(by_name["bag_recorder"])["out_dir"])
    progress.require_config(collection_settings(specs))
    start = progress.next_index
    specs = [replace(s, overrides={**s.overrides, "start_index": start}) if s.name == "chaos_replay" else s
             for s in specs]

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # the recorder closes its bag on exit
        with running(lambda context: compose(specs, context), private=private) as (executor, nodes):
            replay, recorder = (nodes[[s.name for s in specs].index(k)] for k in ("chaos_replay", "bag_recorder"))
            last = replay.end_index - 1
            finished_at = None

            def done() -> bool:
                nonlocal finished_at
                if stop.is_set() or (replay.finished and (start > last or recorder.last_written == last)):
                    return True
                if replay.finished:
                    finished_at = finished_at or time.monotonic()
                    if time.monotonic() - finished_at > FLUSH_TIMEOUT_S:
                        raise RuntimeError(f"the recorder did not receive the end of trajectory {last} "
                                           f"within {FLUSH_TIMEOUT_S} s of the replay finishing")
                return False

            spin_until(executor, done, timeout_sec=0.05)
            if stop.is_set():
                replay.timer.cancel()
                end = time.monotonic() + DRAIN_S
                spin_until(executor, lambda: time.monotonic() >= end)
            last_started = replay.next_index - 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    progress = CollectionProgress(progress.root)
    return {
        "out_dir": str(progress.root),
        "resumed_at": start,
        "last_started": last_started,
        "completed": len(progress.completed),
        "bags": [b["name"] for b in progress.bags],
        "interrupted": stop.is_set(),
    }
