"""Bags of a recording that was killed: a folder with the storage file but no ``metadata.yaml``
(``ros2 bag record`` writes it on a clean stop), and for MCAP often no summary or footer either.

``rosbags`` opens a bag through its metadata and reads MCAP through the summary, so neither reads
such a folder. Here the storage file itself is read: MCAP as a record stream with the ``mcap``
library (every complete message up to where the file ends; a record cut off by the kill is
dropped), sqlite3 through its ``topics`` and ``messages`` tables (rows are committed whole).
The result has the shape of ``bag_ingest``'s own reader, so the ingest's checks and alignment
apply unchanged. Nothing is written into the folder (``ros2 bag reindex`` would add the metadata).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.interfaces import MessageDefinitionFormat

STORAGE_SUFFIXES = (".mcap", ".db3")
REINDEX_HINT = "`ros2 bag reindex {path} -s {storage}` rebuilds its metadata.yaml"


@dataclass(frozen=True)
class MessageDefinition:
    format: MessageDefinitionFormat
    data: str


@dataclass(frozen=True)
class RecoveredConnection:
    """The parts of a rosbags ``Connection`` the ingest reads."""

    topic: str
    msgtype: str
    msgdef: MessageDefinition


def is_interrupted_bag(path: Path) -> bool:
    """A folder with a storage file and no ``metadata.yaml``."""
    return (path.is_dir() and not (path / "metadata.yaml").exists()
            and any(p.suffix in STORAGE_SUFFIXES for p in path.iterdir()))


def storage_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix in STORAGE_SUFFIXES)


class RecoveryError(Exception):
    """The storage file cannot be read even as a stream; ``reason`` says why."""


def read_storage(path: Path, topics: list[str]) -> tuple[list[str], dict[str, tuple], list[str]]:
    """(topics present, {topic: (connections, log times ns, raw CDR messages)}, notes) from the
    storage files of an interrupted bag folder, files in name order (a split recording)."""
    present: set[str] = set()
    found: dict[str, tuple[list, list, list]] = {t: ([], [], []) for t in topics}
    notes = []
    for f in storage_files(path):
        reader = _read_mcap if f.suffix == ".mcap" else _read_sqlite
        file_topics, messages, note = reader(f)
        present |= set(file_topics)
        if note:
            notes.append(f"{f.name}: {note}")
        for conn, t, raw in messages:
            if conn.topic in found:
                conns, times, raws = found[conn.topic]
                if conn not in conns:
                    conns.append(conn)
                times.append(t)
                raws.append(raw)
    per_topic = {}
    for topic, (conns, times, raws) in found.items():
        order = np.argsort(np.asarray(times, dtype=np.int64), kind="stable")
        per_topic[topic] = (conns, np.asarray(times, dtype=np.int64)[order], [raws[i] for i in order])
    return sorted(present), per_topic, notes


def _read_mcap(f: Path):
    from mcap.exceptions import McapError
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader

    schemas: dict[int, Schema] = {}
    channels: dict[int, RecoveredConnection] = {}
    messages, note = [], ""
    with f.open("rb") as stream:
        try:
            for record in StreamReader(stream, record_size_limit=1 << 30).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    schema = schemas.get(record.schema_id)
                    msg = schema is not None and schema.encoding == "ros2msg"
                    definition = MessageDefinition(MessageDefinitionFormat.MSG if msg else MessageDefinitionFormat.NONE,
                                                   schema.data.decode() if schema else "")
                    channels[record.id] = RecoveredConnection(record.topic, schema.name if schema else "", definition)
                elif isinstance(record, Message) and record.channel_id in channels:
                    messages.append((channels[record.channel_id], record.log_time, record.data))
        except (McapError, EOFError, ValueError) as exc:       # the file ends inside a record
            note = f"the file ends inside a record ({type(exc).__name__}: {exc}); {len(messages)} complete messages kept"
        except Exception as exc:  # noqa: BLE001 - zstd/lz4 and struct errors on a damaged chunk
            note = f"stopped at a damaged record ({type(exc).__name__}: {exc}); {len(messages)} complete messages kept"
    if not channels:
        raise RecoveryError(f"{f.name} has no channel records: {note or 'empty recording'}")
    return sorted({c.topic for c in channels.values()}), messages, note


def _read_sqlite(f: Path):
    try:
        db = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
        try:
            topics = {tid: RecoveredConnection(name, msgtype, MessageDefinition(MessageDefinitionFormat.NONE, ""))
                      for tid, name, msgtype in db.execute("SELECT id, name, type FROM topics")}
            rows = db.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY timestamp").fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise RecoveryError(f"{f.name} is not a readable rosbag2 sqlite3 file: {exc}") from exc
    return sorted(c.topic for c in topics.values()), [(topics[t], ts, bytes(d)) for t, ts, d in rows if t in topics], ""
