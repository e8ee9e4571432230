"""`emit="final"`: hold a windowed table's updates until the window closes (``suppress(untilWindowCloses)``).

Theory of operation (Kafka Streams' ``KTableSuppressProcessor`` with ``untilWindowCloses`` and an
unbounded buffer): every update ``Change(new, old)`` of a windowed key is buffered under that key,
replacing the key's earlier update (the old value kept is the one from before the first buffered
update).  Its buffer time is the window's end.  The processor's observed stream time is the largest
timestamp of the updates it received; after each update, every buffered entry whose buffer time is
at or before ``observed - suppress duration`` is emitted, in order of (buffer time, serialized key),
with the timestamp and headers of the update that put it there.  The suppress duration is the
window's grace, plus the inactivity gap for sessions (as Kafka Streams derives it).  Tombstones
(``new`` None: a session merged into a larger one) are buffered but never emitted.  A window that
closes in the step that created it (sliding windows with no grace) comes out at once.

With ``App(idle_advance_ms=...)`` the task also calls `stream_time_advanced` when it moves stream
time forward without a record; the observed time follows and due windows are emitted.

The buffer is a logged in-memory key-value store (``KTABLE-SUPPRESS-STATE-STORE-n``), so it survives
a restart through its changelog.  Buffer entry, by serialized windowed key:

```
{buffer time: int64 BE}{timestamp: int64 BE}{new: int32 BE length, -1 = None}{new bytes}
{old: int32 BE length, -1 = None}{old bytes}{header count: int32 BE}
  per header: {name length: int32 BE}{UTF-8 name}{value length: int32 BE, -1 = None}{value bytes}
```
The values are the table's value serde's bytes.  (Kafka Streams' own buffer changelog format is not
reproduced; a Java app cannot take over this store.)
"""

from __future__ import annotations

import heapq
import struct
from typing import Any

from streamlog.streams.processor import Processor, ProcessorContext
from streamlog.streams.record import Change, Headers, Record
from streamlog.streams.serdes import Serde, SerdeError

_HEAD = struct.Struct(">qq")
_INT = struct.Struct(">i")


def _put_bytes(out: bytearray, data: bytes | None) -> None:
    if data is None:
        out += _INT.pack(-1)
    else:
        out += _INT.pack(len(data))
        out += data


def _get_bytes(data: bytes, pos: int) -> tuple[bytes | None, int]:
    (length,) = _INT.unpack_from(data, pos)
    pos += 4
    if length < 0:
        return None, pos
    if pos + length > len(data):
        raise SerdeError("suppress buffer entry: a length exceeds the entry")
    return data[pos:pos + length], pos + length


def encode_entry(buffer_time: int, timestamp: int, new: bytes | None, old: bytes | None,
                 headers: Headers) -> bytes:
    out = bytearray(_HEAD.pack(buffer_time, timestamp))
    _put_bytes(out, new)
    _put_bytes(out, old)
    out += _INT.pack(len(headers))
    for name, value in headers:
        _put_bytes(out, name.encode())
        _put_bytes(out, value)
    return bytes(out)


def decode_entry(data: bytes) -> tuple[int, int, bytes | None, bytes | None, Headers]:
    buffer_time, timestamp = _HEAD.unpack_from(data, 0)
    new, pos = _get_bytes(data, _HEAD.size)
    old, pos = _get_bytes(data, pos)
    (count,) = _INT.unpack_from(data, pos)
    pos += 4
    headers = []
    for _ in range(count):
        name, pos = _get_bytes(data, pos)
        value, pos = _get_bytes(data, pos)
        headers.append(((name or b"").decode(), value))
    return buffer_time, timestamp, new, old, tuple(headers)


class SuppressUntilWindowCloses(Processor):
    """The buffer lives in memory as well as in its store: entries by key, and a heap of (buffer time,
    key) in eviction order.  A windowed key's buffer time (its window's end) never changes, so an
    update replaces the entry in place and only a new key goes on the heap."""

    def __init__(self, store_name: str, duration_ms: int, key_serde: Serde, value_serde: Serde) -> None:
        self._store_name = store_name
        self._duration = duration_ms
        self._key_serde = key_serde
        self._value_serde = value_serde
        self._observed = -1
        self._heap: list[tuple[int, bytes]] = []
        self._entries: dict[bytes, tuple[int, int, bytes | None, bytes | None, Headers]] = {}
        self._bytes: Any = None

    def init(self, context: ProcessorContext) -> None:
        super().init(context)
        self._bytes = context.get_state_store(self._store_name)
        self._observed = context.current_stream_time_ms()  # a restarted task continues its stream time
        self._entries = {bytes(key): decode_entry(data) for key, data in self._bytes.all()}
        self._heap = [(entry[0], key) for key, entry in self._entries.items()]
        heapq.heapify(self._heap)

    def _serialize(self, value: Any) -> bytes | None:
        return None if value is None else self._value_serde.serialize(self._store_name, value)

    def process(self, record: Record) -> None:
        if record.timestamp > self._observed:
            self._observed = record.timestamp
        key_bytes = self._key_serde.serialize(self._store_name, record.key)
        if key_bytes is None:
            raise SerdeError("suppress: a windowed key serialized to None")
        change: Change = record.value
        previous = self._entries.get(key_bytes)
        old_bytes = previous[3] if previous is not None else self._serialize(change.old)
        buffer_time = record.key.end
        entry = (buffer_time, record.timestamp, self._serialize(change.new), old_bytes, record.headers)
        self._entries[key_bytes] = entry
        self._bytes.put(key_bytes, encode_entry(*entry))  # a BYTES/BYTES store: logged to its changelog
        if previous is None:
            heapq.heappush(self._heap, (buffer_time, key_bytes))
        self._evict()

    def stream_time_advanced(self, stream_time: int) -> None:
        if stream_time > self._observed:
            self._observed = stream_time
            self._evict()

    def _evict(self) -> None:
        expiry = self._observed - self._duration
        heap = self._heap
        while heap and heap[0][0] <= expiry:
            _, key_bytes = heapq.heappop(heap)
            entry = self._entries.pop(key_bytes, None)
            self._bytes.put(key_bytes, None)
            if entry is None:
                continue
            _, timestamp, new, old, headers = entry
            if new is None:
                continue  # a tombstone: safe to drop under untilWindowCloses
            key = self._key_serde.deserialize(self._store_name, key_bytes)
            value_de = self._value_serde.deserialize
            change = Change(value_de(self._store_name, new),
                            None if old is None else value_de(self._store_name, old))
            self.context.forward(Record(key, change, timestamp, headers))
