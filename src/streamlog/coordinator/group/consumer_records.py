"""The ``__consumer_offsets`` records of KIP-848 consumer groups, in Kafka's own format.

Theory of operation: as in Kafka 4, a consumer group is persisted as six kinds of keyed records;
replaying them (last write per key wins, a null value deletes) rebuilds every group.  Each key is an
int16 *key version* that names the record type, then the key's fields, non-flexible (int16-length
strings); each value is an int16 value version (0) then its fields, flexible (compact strings,
unsigned-varint array lengths plus one, a tagged-field section).  The layouts are declared once as
data below (from Kafka's ``group-coordinator/src/main/resources/common/message/ConsumerGroup*.json``)
and encoded by the protocol codec.

    key version  record (key fields)                       value
    3   ConsumerGroupMetadata (group_id)                   epoch, tag 0: metadata_hash int64 (=0)
    4   ConsumerGroupPartitionMetadata (group_id)          topics[] {topic_id, topic_name, num_partitions,
        (read only: Kafka 4.1 deprecated it)               partition_metadata[]}
    5   ConsumerGroupMemberMetadata (group_id, member_id)  instance_id?, rack_id?, client_id, client_host,
                                                           subscribed_topic_names, subscribed_topic_regex?,
                                                           rebalance_timeout_ms, server_assignor?,
                                                           tag 0: classic_member_metadata?
                                                           {session_timeout_ms, supported_protocols[]
                                                           {name, metadata}}
    6   ConsumerGroupTargetAssignmentMetadata (group_id)   assignment_epoch
    7   ConsumerGroupTargetAssignmentMember (group_id,     topic_partitions[] {topic_id, partitions}
        member_id)
    8   ConsumerGroupCurrentMemberAssignment (group_id,    member_epoch, previous_member_epoch, state int8,
        member_id)                                         assigned_partitions[],
                                                           partitions_pending_revocation[]

Kafka 4.1 (KIP-1101) tracks a group's subscribed-topic metadata as the ``MetadataHash`` of record 3
instead of record 4: it no longer writes record 4 and tombstones one it finds.  Streamlog writes the
same way and still reads both: a log written before (by Kafka 4.0 or an older Streamlog) has record
4 and no hash (0), and is migrated on the group's next heartbeat (``consumer_machine.py``).

Key versions 0-2 are the classic group's offset-commit and group-metadata records (``records.py``).
``is_consumer_key`` tells the two families apart: a key of this module starts with 0x00 and a
byte 3..8, then an int16 string length; Streamlog's classic keys start with a one-byte type 0..2, so
the two collide only for a classic offset key whose group id is 768 bytes or longer and then only if
the rest happens to parse; ``decode_key`` insists that every byte is consumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from streamlog.protocol.codec import Msg, decode, encode
from streamlog.protocol.primitives import DecodeError
from streamlog.protocol.schema import ARRAY, BYTES, INT8, INT32, INT64, STRING, UUID, arr, f, struct

KEY_VERSIONS = frozenset(range(3, 9))


class RecordKind(IntEnum):
    GROUP_METADATA = 3
    PARTITION_METADATA = 4
    MEMBER_METADATA = 5
    TARGET_METADATA = 6
    TARGET_MEMBER = 7
    CURRENT_ASSIGNMENT = 8


_GROUP_KEY = (f("group_id", STRING),)
_MEMBER_KEY = (f("group_id", STRING), f("member_id", STRING))
_TOPIC_PARTITIONS = [f("topic_id", UUID), f("partitions", ARRAY(INT32))]

KEYS = {
    RecordKind.GROUP_METADATA: _GROUP_KEY,
    RecordKind.PARTITION_METADATA: _GROUP_KEY,
    RecordKind.MEMBER_METADATA: _MEMBER_KEY,
    RecordKind.TARGET_METADATA: _GROUP_KEY,
    RecordKind.TARGET_MEMBER: _MEMBER_KEY,
    RecordKind.CURRENT_ASSIGNMENT: _MEMBER_KEY,
}

VALUES = {
    RecordKind.GROUP_METADATA: (f("epoch", INT32), f("metadata_hash", INT64, tag=0, default=0)),
    RecordKind.PARTITION_METADATA: (
        arr("topics", "0+", [
            f("topic_id", UUID), f("topic_name", STRING), f("num_partitions", INT32),
            arr("partition_metadata", "0+", [f("partition", INT32), f("racks", ARRAY(STRING))]),
        ]),
    ),
    RecordKind.MEMBER_METADATA: (
        f("instance_id", STRING, null="0+", default=None),
        f("rack_id", STRING, null="0+", default=None),
        f("client_id", STRING),
        f("client_host", STRING),
        f("subscribed_topic_names", ARRAY(STRING)),
        f("subscribed_topic_regex", STRING, null="0+", default=None),
        f("rebalance_timeout_ms", INT32, default=-1),
        f("server_assignor", STRING, null="0+", default=None),
        struct("classic_member_metadata", "0+", [
            f("session_timeout_ms", INT32),
            arr("supported_protocols", "0+", [f("name", STRING), f("metadata", BYTES)]),
        ], null="0+", tag=0),
    ),
    RecordKind.TARGET_METADATA: (f("assignment_epoch", INT32),),
    RecordKind.TARGET_MEMBER: (arr("topic_partitions", "0+", _TOPIC_PARTITIONS),),
    RecordKind.CURRENT_ASSIGNMENT: (
        f("member_epoch", INT32),
        f("previous_member_epoch", INT32),
        f("state", INT8),
        arr("assigned_partitions", "0+", _TOPIC_PARTITIONS),
        arr("partitions_pending_revocation", "0+", _TOPIC_PARTITIONS),
    ),
}


class ConsumerRecordError(ValueError):
    """A consumer-group record that does not decode."""


@dataclass(frozen=True, slots=True)
class ConsumerKey:
    kind: RecordKind
    group_id: str
    member_id: str = ""


def is_consumer_key(key: bytes) -> bool:
    return len(key) >= 4 and key[0] == 0 and key[1] in KEY_VERSIONS


def encode_key(kind: RecordKind, group_id: str, member_id: str = "") -> bytes:
    body: Msg = {"group_id": group_id, "member_id": member_id}
    return int(kind).to_bytes(2, "big") + encode(KEYS[kind], 0, False, body)


def encode_value(kind: RecordKind, value: Msg) -> bytes:
    return b"\x00\x00" + encode(VALUES[kind], 0, True, value)


def decode_key(key: bytes) -> ConsumerKey:
    if not is_consumer_key(key):
        raise ConsumerRecordError("not a consumer-group key")
    kind = RecordKind(int.from_bytes(key[:2], "big"))
    try:
        msg, end = decode(KEYS[kind], 0, False, key, 2)
    except (DecodeError, ValueError, IndexError) as exc:
        raise ConsumerRecordError(str(exc)) from exc
    if end != len(key):
        raise ConsumerRecordError("trailing bytes in key")
    return ConsumerKey(kind, str(msg["group_id"]), str(msg.get("member_id", "")))


def decode_value(kind: RecordKind, value: bytes) -> dict[str, Any]:
    if len(value) < 2:
        raise ConsumerRecordError("short value")
    version = int.from_bytes(value[:2], "big")
    if version != 0:
        raise ConsumerRecordError(f"unknown value version {version} for {kind.name}")
    try:
        msg, _end = decode(VALUES[kind], 0, True, value, 2)
    except (DecodeError, ValueError, IndexError) as exc:
        raise ConsumerRecordError(str(exc)) from exc
    return dict(msg)
