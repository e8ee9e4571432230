"""The state of a stream-stream join that is not a window store: the outer-join store's layout, time.

Theory of operation: processors/stream_join.py keeps left and outer joins' unmatched records in a
key-value store of bytes (the shared store) until their window closes.  Its entries are laid out as
Kafka's (``ListValueStore`` over ``TimestampedKeyAndJoinSide`` keys), so the store scans in time
order (right before left at equal times) and its changelog matches a Java app's::

    key:   {timestamp: int64 BE}{side: 1 byte, 0x01 left, 0x00 right}{key bytes (key serde)}
    value: 0x01 {count: int32 BE} ({length: int32 BE}{side: 1 byte}{value bytes (that side's serde)})*

Several unmatched records with the same key and timestamp on one side share an entry (a list).

`JoinTimeTracker` is what the two join nodes of one task share (Kafka's ``TimeTracker``): the join's
stream time and the smallest timestamp known to wait in the outer-join store; `TimeTrackers` hands one
per task to both nodes.  `java_long` wraps arithmetic as Java's longs do, which Kafka's checks rely on.
"""

from __future__ import annotations

import struct

from streamlog.streams.record import TaskId
from streamlog.streams.serdes import SerdeError

_LONG = struct.Struct(">q")
_INT = struct.Struct(">i")
MAX_LONG = (1 << 63) - 1
NO_TIMESTAMP = -1
LEFT_FLAG, RIGHT_FLAG = b"\x01", b"\x00"
_VARIABLE_SIZE = b"\x01"  # Kafka's ListSerde strategy flag for byte-array elements
_NULL_ENTRY = -1


def java_long(value: int) -> int:
    """`value` wrapped to a signed 64-bit integer, as Java's long arithmetic does."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


# ----------------------------------------------------------------------------- the shared store's layout
def shared_key(timestamp: int, left: bool, key_bytes: bytes) -> bytes:
    return _LONG.pack(timestamp) + (LEFT_FLAG if left else RIGHT_FLAG) + key_bytes


def split_shared_key(data: bytes) -> tuple[int, bool, bytes]:
    """(timestamp, is left, key bytes) of a shared-store key."""
    return _LONG.unpack_from(data)[0], data[8:9] == LEFT_FLAG, data[9:]


def encode_list(elements: list[bytes]) -> bytes:
    parts = [_VARIABLE_SIZE, _INT.pack(len(elements))]
    for element in elements:
        parts.append(_INT.pack(len(element)))
        parts.append(element)
    return b"".join(parts)


def decode_list(data: bytes) -> list[bytes | None]:
    if data[:1] != _VARIABLE_SIZE:
        raise SerdeError(f"outer-join store: unknown list layout {data[:1]!r}")
    (count,) = _INT.unpack_from(data, 1)
    position = 5
    out: list[bytes | None] = []
    for _ in range(count):
        (size,) = _INT.unpack_from(data, position)
        position += 4
        if size == _NULL_ENTRY:
            out.append(None)
            continue
        out.append(data[position:position + size])
        position += size
    return out


# ----------------------------------------------------------------------------- shared stream time
class JoinTimeTracker:
    """What the two join nodes of one task share (Kafka's ``TimeTracker``): stream time, min time."""

    __slots__ = ("min_time", "sides", "stream_time")

    def __init__(self) -> None:
        self.stream_time = NO_TIMESTAMP
        self.min_time = MAX_LONG
        self.sides: set[bool] = set()


class TimeTrackers:
    """One `JoinTimeTracker` per task, handed to both join nodes of a join as they start.

    A side that starts again for a task (a new incarnation of the task) gets a fresh tracker, which
    the other side then joins, so nothing survives from a task that was not closed.
    """

    def __init__(self) -> None:
        self._by_task: dict[TaskId, JoinTimeTracker] = {}

    def get(self, task_id: TaskId, left: bool) -> JoinTimeTracker:
        tracker = self._by_task.get(task_id)
        if tracker is None or left in tracker.sides:
            tracker = self._by_task[task_id] = JoinTimeTracker()
        tracker.sides.add(left)
        return tracker

    def remove(self, task_id: TaskId, tracker: JoinTimeTracker) -> None:
        if self._by_task.get(task_id) is tracker:
            del self._by_task[task_id]
