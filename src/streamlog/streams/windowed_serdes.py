"""Serdes for `Windowed` keys, and the binary keys of window and session stores, in Kafka Streams' layouts.

Theory of operation: a windowed table's key is the record key plus its window.  On topics (the
table's output, a repartition topic) Kafka Streams writes it as follows, and so does Streamlog, so a
Java app and a Streamlog app read each other's topics:

```
time-windowed key (TimeWindowedSerializer):      {key bytes}{window start: int64 BE}
session-windowed key (SessionWindowedSerializer): {key bytes}{window end: int64 BE}{window start: int64 BE}
```

The time-windowed layout holds no end: the deserializer adds the window size it was built with (for
sliding windows the time difference).  Stores and their changelogs use Kafka Streams' store keys:

```
window store key (WindowKeySchema):   {key bytes}{window start: int64 BE}{sequence number: int32 BE}
session store key (SessionKeySchema): {key bytes}{session end: int64 BE}{session start: int64 BE}
```

The sequence number is 0, except in stores that keep duplicates (stream-stream joins), where it
counts puts so two records at the same time are two entries.
"""

from __future__ import annotations

import struct
from typing import Any

from streamlog.streams.record import Headers
from streamlog.streams.serdes import Serde, SerdeError
from streamlog.streams.windows import Windowed

_LONG = struct.Struct(">q")
_LONG_INT = struct.Struct(">qi")
_TWO_LONGS = struct.Struct(">qq")
WINDOW_SUFFIX = _LONG_INT.size  # 12: start + sequence number
SESSION_SUFFIX = _TWO_LONGS.size  # 16: end + start
MAX_END = (1 << 63) - 1


def _pack(layout: struct.Struct, *values: int) -> bytes:
    try:
        return layout.pack(*values)
    except struct.error as exc:  # a time outside int64 (or a sequence number outside int32)
        raise SerdeError(f"window bounds {values} do not fit {layout.format}: {exc}") from exc


def window_store_key(key: bytes, start: int, seq: int = 0) -> bytes:
    return key + _pack(_LONG_INT, start, seq)


def split_window_store_key(data: bytes) -> tuple[bytes, int, int]:
    """(key bytes, window start, sequence number) of a window store key."""
    if len(data) < WINDOW_SUFFIX:
        raise SerdeError(f"a window store key has at least {WINDOW_SUFFIX} bytes, got {len(data)}")
    start, seq = _LONG_INT.unpack_from(data, len(data) - WINDOW_SUFFIX)
    return bytes(data[:-WINDOW_SUFFIX]), start, seq


def session_store_key(key: bytes, start: int, end: int) -> bytes:
    return key + _pack(_TWO_LONGS, end, start)


def split_session_store_key(data: bytes) -> tuple[bytes, int, int]:
    """(key bytes, session start, session end) of a session store key."""
    if len(data) < SESSION_SUFFIX:
        raise SerdeError(f"a session store key has at least {SESSION_SUFFIX} bytes, got {len(data)}")
    end, start = _TWO_LONGS.unpack_from(data, len(data) - SESSION_SUFFIX)
    return bytes(data[:-SESSION_SUFFIX]), start, end


def _inner_bytes(inner: Serde, topic: str, value: Any, headers: Headers) -> bytes:
    if not isinstance(value, Windowed):
        raise SerdeError(f"a windowed serde expects a Windowed key, got {type(value).__name__}")
    data = inner.serialize(topic, value.key, headers)
    if data is None:
        raise SerdeError("a windowed key's inner key serialized to None")
    return data


class TimeWindowedSerde:
    """`Windowed` keys of time (or sliding) windows: key bytes + start; end = start + `window_size_ms`."""

    def __init__(self, inner: Serde, window_size_ms: int) -> None:
        self.inner = inner
        self.window_size_ms = window_size_ms
        self.name = f"TimeWindowed({inner.name})"

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if value is None:
            return None
        return _inner_bytes(self.inner, topic, value, headers) + _pack(_LONG, value.start)

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        if data is None:
            return None
        if len(data) < _LONG.size:
            raise SerdeError(f"a time-windowed key has at least 8 bytes, got {len(data)}")
        (start,) = _LONG.unpack_from(data, len(data) - _LONG.size)
        key = self.inner.deserialize(topic, bytes(data[:-_LONG.size]), headers)
        end = start + self.window_size_ms
        return Windowed(key, start, end if end <= MAX_END else MAX_END)


class SessionWindowedSerde:
    """`Windowed` keys of sessions: key bytes + end + start."""

    def __init__(self, inner: Serde) -> None:
        self.inner = inner
        self.name = f"SessionWindowed({inner.name})"

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if value is None:
            return None
        return _inner_bytes(self.inner, topic, value, headers) + _pack(_TWO_LONGS, value.end, value.start)

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        if data is None:
            return None
        key, start, end = split_session_store_key(bytes(data))
        return Windowed(self.inner.deserialize(topic, key, headers), start, end)


class WindowStoreKeySerde:
    """Reads a window store's changelog keys (key + start + sequence number) as `Windowed` keys."""

    def __init__(self, inner: Serde, window_size_ms: int) -> None:
        self.inner = inner
        self.window_size_ms = window_size_ms
        self.name = f"WindowStoreKey({inner.name})"

    def serialize(self, topic: str, value: Any, headers: Headers = ()) -> bytes | None:
        if value is None:
            return None
        return window_store_key(_inner_bytes(self.inner, topic, value, headers), value.start)

    def deserialize(self, topic: str, data: bytes | None, headers: Headers = ()) -> Any:
        if data is None:
            return None
        key, start, _ = split_window_store_key(bytes(data))
        end = min(start + self.window_size_ms, MAX_END)
        return Windowed(self.inner.deserialize(topic, key, headers), start, end)
