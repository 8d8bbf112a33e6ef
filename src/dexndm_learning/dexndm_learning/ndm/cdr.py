"""Fast decoding of serialized ``sensor_msgs/msg/JointState`` (ROS 2 CDR, little endian).

A JointState is ``header.stamp`` (int32 sec, uint32 nanosec) at a fixed offset, then the
variable-length ``header.frame_id`` and ``name`` strings, then the float64 sequences
``position``, ``velocity`` and ``effort``. Within one topic nearly every message has the same
frame_id and names, so the bytes in front of ``position`` are the same in every message. The
decoder parses that *layout* once with ``struct`` from one template message, finds all messages
of the same length whose prefix bytes equal the template's (one vectorized comparison), and
reads their stamps and positions as strided numpy views of one joined buffer. Messages of
another layout get their own template, so any mix of layouts decodes correctly; the cost is
a few numpy operations per distinct layout instead of Python per message.
"""
from __future__ import annotations

import struct
from typing import NamedTuple, Sequence

import numpy as np

_CDR_LE = b"\x00\x01"
_STAMP_END = 12                 # int32 sec, uint32 nanosec follow the 4-byte encapsulation
_U32 = struct.Struct("<I")


class CdrError(ValueError):
    """A message that is not a decodable little-endian JointState; ``index`` is its position."""

    def __init__(self, index: int, reason: str):
        super().__init__(reason)
        self.index = index
        self.reason = reason


class Layout(NamedTuple):
    names: tuple[str, ...]
    n_position: int
    position_offset: int        # byte offset of position[0]; bytes [0:4] and [12:offset] are fixed


class JointStateGroup(NamedTuple):
    """Messages sharing one layout: their indices, their joint names and positions (n, k)."""

    rows: np.ndarray
    names: tuple[str, ...]
    position: np.ndarray


def _align(offset: int, size: int) -> int:
    """CDR aligns relative to the end of the 4-byte encapsulation header."""
    return 4 + -(-(offset - 4) // size) * size


def parse_layout(raw: bytes, index: int = 0) -> Layout:
    """Parse one message fully (also checks velocity and effort fit) and return its layout."""
    def u32(offset: int) -> int:
        if offset + 4 > len(raw):
            raise CdrError(index, f"message truncated at byte {offset} of {len(raw)}")
        return _U32.unpack_from(raw, offset)[0]

    def skip_string(offset: int) -> tuple[int, str]:
        offset = _align(offset, 4)
        size = u32(offset)
        end = offset + 4 + size
        if end > len(raw):
            raise CdrError(index, f"string of {size} bytes at byte {offset} overruns the message")
        return end, raw[offset + 4:end].rstrip(b"\x00").decode("utf-8", "replace")

    def float64_sequence(offset: int) -> tuple[int, int, int]:
        offset = _align(offset, 4)
        count = u32(offset)
        start = offset + 4 if count == 0 else _align(offset + 4, 8)
        end = start + 8 * count
        if end > len(raw):
            raise CdrError(index, f"float64 sequence of {count} at byte {offset} overruns the message")
        return start, count, end

    if raw[:2] != _CDR_LE:
        raise CdrError(index, f"unsupported CDR encapsulation {bytes(raw[:4])!r} (want little endian)")
    offset, _frame_id = skip_string(_STAMP_END)
    offset = _align(offset, 4)
    count = u32(offset)
    offset += 4
    names = []
    for _ in range(count):
        offset, name = skip_string(offset)
        names.append(name)
    position_offset, n_position, offset = float64_sequence(offset)
    for _ in ("velocity", "effort"):
        _, _, offset = float64_sequence(offset)
    return Layout(tuple(names), n_position, position_offset)


def decode_joint_states(raws: Sequence[bytes]) -> tuple[np.ndarray, list[JointStateGroup]]:
    """Header stamps (ns, int64, one per message) and positions grouped by layout.

    Raises CdrError (with the message index) for a message that does not parse. A serialized
    JointState is always a whole number of 4-byte words (every field ends 4-aligned), so the
    messages of one length are compared and sliced as rows of uint32 words.
    """
    lengths = np.fromiter(map(len, raws), dtype=np.int64, count=len(raws))
    stamps = np.empty(len(raws), dtype=np.int64)
    groups: list[JointStateGroup] = []
    same_length = len(raws) and lengths.min() == lengths.max()      # the usual case, no sort
    for length in lengths[:1] if same_length else np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        if length % 4:
            raise CdrError(int(rows[0]), f"length {length} is not a multiple of 4 bytes")
        chunk = raws if rows.size == len(raws) else [raws[i] for i in rows.tolist()]
        words = np.frombuffer(b"".join(chunk), dtype="<u4").reshape(rows.size, int(length) // 4)
        while rows.size:
            layout = parse_layout(raws[rows[0]], int(rows[0]))
            # word 0: encapsulation; words 1-2: stamp (varies); words 3..end: frame_id, names,
            # position count -- the layout, equal in every message of this group
            end = layout.position_offset // 4
            same = (words[:, 0] == words[0, 0]) & (words[:, 3:end] == words[0, 3:end]).all(axis=1)
            everyone = bool(same.all())     # the usual case: no copy of the block
            mine = words if everyone else words[same]
            sec = mine[:, 1].view("<i4").astype(np.int64)
            stamps[rows[same]] = sec * 1_000_000_000 + mine[:, 2]
            position = np.ascontiguousarray(mine[:, end:end + 2 * layout.n_position]).view("<f8")
            groups.append(JointStateGroup(rows[same], layout.names, position))
            rows, words = (rows[:0], words[:0]) if everyone else (rows[~same], words[~same])
    return stamps, groups
