"""The repartition-topic encoding of a table change (``Table.group_by``), Kafka Streams' format.

Theory of operation: a grouped table sends `Change(new, old)` records through its repartition topic
so the aggregating task can subtract before it adds.  The value bytes are Kafka Streams'
``ChangedSerializer`` format (3.5 and later), so a Streamlog and a Java app agree on the topic:

```
only the old value:   {old value bytes}{flag byte 0x00}
only the new value:   {new value bytes}{flag byte 0x01}
both (same new key):  {varint: length of new value bytes}{new value bytes}{old value bytes}{flag byte 0x02}
```

The varint is Kafka's zig-zag signed varint (``ByteUtils.writeVarint``).  The inner bytes are the
grouped value serde's.  A change with neither value is never written (the mapper drops it).
"""

from __future__ import annotations

from typing import Any

from streamlog.streams.record import Change, Headers
from streamlog.streams.serdes import Serde, SerdeError

_OLD, _NEW, _BOTH = 0, 1, 2


def _write_varint(value: int) -> bytes:
    encoded = (value << 1) ^ (value >> 31)
    out = bytearray()
    while encoded & ~0x7F:
        out.append((encoded & 0x7F) | 0x80)
        encoded >>= 7
    out.append(encoded)
    return bytes(out)


def _read_varint(data: bytes) -> tuple[int, int]:
    value = shift = 0
    for index, byte in enumerate(data[:5]):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), index + 1
        shift += 7
    raise SerdeError("Change serde: bad varint length prefix")


class ChangedSerde:
    """Serializes `Change(new, old)` around an inner value serde."""

    def __init__(self, inner: Serde) -> None:
        self.inner = inner
        self.name = f"Changed({inner.name})"

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if not isinstance(value, Change):
            raise SerdeError(f"Change serde expects a Change, got {type(value).__name__}")
        new = None if value.new is None else self.inner.serialize(topic, value.new, headers)
        old = None if value.old is None else self.inner.serialize(topic, value.old, headers)
        if new is not None and old is not None:
            return _write_varint(len(new)) + new + old + bytes((_BOTH,))
        if new is not None:
            return new + bytes((_NEW,))
        if old is not None:
            return old + bytes((_OLD,))
        raise SerdeError("Change serde: both the new and the old value are None")

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        if data is None:
            return None
        if not data:
            raise SerdeError("Change serde: empty value")
        flag, body = data[-1], bytes(data[:-1])
        if flag == _OLD:
            return Change(None, self.inner.deserialize(topic, body, headers))
        if flag == _NEW:
            return Change(self.inner.deserialize(topic, body, headers), None)
        if flag == _BOTH:
            length, start = _read_varint(body)
            if length < 0 or start + length > len(body):
                raise SerdeError("Change serde: the new value's length exceeds the record")
            new = self.inner.deserialize(topic, body[start:start + length], headers)
            old = self.inner.deserialize(topic, body[start + length:], headers)
            return Change(new, old)
        raise SerdeError(f"Change serde: unknown flag byte {flag}")
