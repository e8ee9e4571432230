"""Just enough of the consumer protocol's subscription format to learn which topics a group reads.

Theory of operation: the coordinator treats member metadata as opaque everywhere except here.  For
groups whose protocol type is ``consumer``, OffsetDelete must refuse topics the group is subscribed
to (GROUP_SUBSCRIBED_TO_TOPIC), and offset retention of a Stable group may expire offsets of topics
nobody subscribes to any more; both need the subscribed topics.  Every version of the subscription
starts the same way, so only that prefix is read (big-endian, never flexible)::

    version     int16
    topics      int32 count, then count times: int16 length + UTF-8 topic name
    ...         user data, owned partitions (v1+), generation (v2+), rack (v3+): not read

Anything that does not parse yields ``None`` ("unknown"), never an exception.
"""

from __future__ import annotations

import struct

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


def subscribed_topics(metadata: bytes) -> frozenset[str] | None:
    try:
        pos = 0
        (version,) = _I16.unpack_from(metadata, pos)
        pos += 2
        if version < 0:
            return None
        (count,) = _I32.unpack_from(metadata, pos)
        pos += 4
        if count < 0 or count > len(metadata):
            return None
        topics = set()
        for _ in range(count):
            (length,) = _I16.unpack_from(metadata, pos)
            pos += 2
            if length < 0 or pos + length > len(metadata):
                return None
            topics.add(metadata[pos : pos + length].decode("utf-8"))
            pos += length
        return frozenset(topics)
    except (struct.error, UnicodeDecodeError):
        return None


def encode_subscription(topics: list[str], user_data: bytes | None = None) -> bytes:
    """A version-0 subscription (used by tests and tools)."""
    out = bytearray(_I16.pack(0))
    out += _I32.pack(len(topics))
    for topic in topics:
        raw = topic.encode("utf-8")
        out += _I16.pack(len(raw)) + raw
    if user_data is None:
        out += _I32.pack(-1)
    else:
        out += _I32.pack(len(user_data)) + user_data
    return bytes(out)
