"""The consumer protocol embedded in classic JoinGroup/SyncGroup (ConsumerProtocolSubscription and
ConsumerProtocolAssignment), read and written for classic members of a KIP-848 consumer group.

Theory of operation: a classic consumer puts its subscription in JoinGroup's protocol metadata and
gets its partitions in SyncGroup's assignment, both as an int16 version followed by a non-flexible
struct (Kafka's ``clients/src/main/resources/common/message/ConsumerProtocol*.json``).  When such a
member belongs to a consumer group, the broker reads its topics and owned partitions from the
subscription and writes the assignment itself, in the version the member's subscription used (at
most 3).  Anything that does not parse yields ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from streamlog.protocol.codec import decode, encode
from streamlog.protocol.primitives import DecodeError
from streamlog.protocol.schema import ARRAY, BYTES, INT32, STRING, arr, f

_TOPIC_PARTITIONS = [f("topic", STRING), f("partitions", ARRAY(INT32))]
SUBSCRIPTION = (
    f("topics", ARRAY(STRING)),
    f("user_data", BYTES, null="0+", default=None),
    arr("owned_partitions", "1+", _TOPIC_PARTITIONS),
    f("generation_id", INT32, "2+", default=-1),
    f("rack_id", STRING, "3+", null="3+", default=None),
)
ASSIGNMENT = (
    arr("assigned_partitions", "0+", _TOPIC_PARTITIONS),
    f("user_data", BYTES, null="0+", default=None),
)
MAX_VERSION = 3


@dataclass(frozen=True, slots=True)
class Subscription:
    version: int
    topics: tuple[str, ...]
    owned: Mapping[str, frozenset[int]]


def parse_subscription(metadata: bytes) -> Subscription | None:
    if len(metadata) < 2:
        return None
    version = min(int.from_bytes(metadata[:2], "big", signed=True), MAX_VERSION)
    if version < 0:
        return None
    try:
        msg, _end = decode(SUBSCRIPTION, version, False, metadata, 2)
        owned: dict[str, frozenset[int]] = {}
        for t in msg.get("owned_partitions") or []:
            owned[str(t["topic"])] = owned.get(str(t["topic"]), frozenset()) | frozenset(t["partitions"])
        return Subscription(version, tuple(str(t) for t in msg["topics"]), owned)
    except (DecodeError, ValueError, UnicodeDecodeError, IndexError):
        return None


def encode_assignment(version: int, partitions: Mapping[str, frozenset[int]]) -> bytes:
    version = max(0, min(version, MAX_VERSION))
    assigned = [{"topic": t, "partitions": sorted(ps)} for t, ps in sorted(partitions.items()) if ps]
    body = {"assigned_partitions": assigned, "user_data": None}
    return version.to_bytes(2, "big") + encode(ASSIGNMENT, version, False, body)


def decode_assignment(data: bytes) -> dict[str, frozenset[int]] | None:
    if len(data) < 2:
        return None
    version = min(int.from_bytes(data[:2], "big", signed=True), MAX_VERSION)
    if version < 0:
        return None
    try:
        msg, _end = decode(ASSIGNMENT, version, False, data, 2)
    except (DecodeError, ValueError, UnicodeDecodeError, IndexError):
        return None
    out: dict[str, frozenset[int]] = {}
    for t in msg["assigned_partitions"]:
        out[str(t["topic"])] = out.get(str(t["topic"]), frozenset()) | frozenset(t["partitions"])
    return out
