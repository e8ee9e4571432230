"""Writing and replaying a consumer group's ``__consumer_offsets`` records (Kafka's format).

Theory of operation: the machine calls the writers below after each change; each returns the
``LogRecord`` for one record kind of ``consumer_records.py`` (or a member's three tombstones).
``restore`` folds replayed (key, value) pairs, last write per key wins, into ``ConsumerGroup``
objects: group epoch, subscribed-topic metadata hash (or, from an older log, the metadata itself),
members with their subscriptions, the target assignment with its epoch, and each member's current
assignment, epoch and state.  Session deadlines are not persisted: the broker gives every restored
member a fresh session timeout.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from streamlog.coordinator.group.assignors import Assignment
from streamlog.coordinator.group.consumer_model import ClassicInfo, ConsumerGroup, ConsumerMember
from streamlog.coordinator.group.consumer_records import (
    ConsumerKey,
    ConsumerRecordError,
    RecordKind,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from streamlog.coordinator.group.consumer_states import MemberState
from streamlog.coordinator.group.effects import LogRecord

K = RecordKind


def wire_partitions(a: Assignment) -> list[dict[str, Any]]:
    return [{"topic_id": tid, "partitions": sorted(ps)}
            for tid, ps in sorted(a.items(), key=lambda x: str(x[0])) if ps]


def from_wire(items: Iterable[Any]) -> Assignment:
    out: dict[uuid.UUID, frozenset[int]] = {}
    for t in items:
        ps = frozenset(int(p) for p in t["partitions"])
        if ps:
            out[t["topic_id"]] = out.get(t["topic_id"], frozenset()) | ps
    return out


def metadata_hash(topics: Mapping[str, tuple[uuid.UUID, int]]) -> int:
    """A signed 64-bit hash of the subscribed topics' metadata (name, id, partition count), 0 for none.

    Kafka 4.1 hashes the same facts (and racks, which a single node has none of) with its own
    function; the value only has to change when they do, so Streamlog's is BLAKE2b (8 bytes) of a
    canonical text and is not Kafka's number."""
    if not topics:
        return 0
    text = "\n".join(f"{name} {tid} {n}" for name, (tid, n) in sorted(topics.items()))
    value = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)
    return value or 1


def group_metadata(g: ConsumerGroup) -> LogRecord:
    return LogRecord(encode_key(K.GROUP_METADATA, g.group_id),
                     encode_value(K.GROUP_METADATA, {"epoch": g.epoch, "metadata_hash": g.metadata_hash}))


def partition_metadata_tombstone(group_id: str) -> LogRecord:
    """Kafka 4.1 writes no ConsumerGroupPartitionMetadata, and deletes one left by an older version."""
    return LogRecord(encode_key(K.PARTITION_METADATA, group_id), None)


def member_metadata(g: ConsumerGroup, m: ConsumerMember) -> LogRecord:
    value = {"instance_id": m.instance_id, "rack_id": m.rack_id, "client_id": m.client_id,
             "client_host": m.client_host, "subscribed_topic_names": list(m.subscribed_names),
             "subscribed_topic_regex": m.subscribed_regex, "rebalance_timeout_ms": m.rebalance_timeout_ms,
             "server_assignor": m.server_assignor,
             "classic_member_metadata": None if m.classic is None else {
                 "session_timeout_ms": m.classic.session_timeout_ms,
                 "supported_protocols": [{"name": n, "metadata": md} for n, md in m.classic.protocols]}}
    return LogRecord(encode_key(K.MEMBER_METADATA, g.group_id, m.member_id),
                     encode_value(K.MEMBER_METADATA, value))


def target_metadata(g: ConsumerGroup) -> LogRecord:
    return LogRecord(encode_key(K.TARGET_METADATA, g.group_id),
                     encode_value(K.TARGET_METADATA, {"assignment_epoch": g.assignment_epoch}))


def target_member(g: ConsumerGroup, member_id: str) -> LogRecord:
    value = {"topic_partitions": wire_partitions(g.target.get(member_id, {}))}
    return LogRecord(encode_key(K.TARGET_MEMBER, g.group_id, member_id), encode_value(K.TARGET_MEMBER, value))


def current_assignment(g: ConsumerGroup, m: ConsumerMember) -> LogRecord:
    value = {"member_epoch": m.epoch, "previous_member_epoch": m.previous_epoch, "state": int(m.state),
             "assigned_partitions": wire_partitions(m.assigned),
             "partitions_pending_revocation": wire_partitions(m.pending_revocation)}
    return LogRecord(encode_key(K.CURRENT_ASSIGNMENT, g.group_id, m.member_id),
                     encode_value(K.CURRENT_ASSIGNMENT, value))


def member_tombstones(group_id: str, member_id: str) -> list[LogRecord]:
    return [LogRecord(encode_key(kind, group_id, member_id), None)
            for kind in (K.CURRENT_ASSIGNMENT, K.TARGET_MEMBER, K.MEMBER_METADATA)]


def group_tombstones(g: ConsumerGroup) -> list[LogRecord]:
    out: list[LogRecord] = []
    for mid in set(g.members) | set(g.target):
        out += member_tombstones(g.group_id, mid)
    kinds = (K.TARGET_METADATA, K.PARTITION_METADATA, K.GROUP_METADATA) if g.legacy_partition_metadata \
        else (K.TARGET_METADATA, K.GROUP_METADATA)
    out += [LogRecord(encode_key(kind, g.group_id), None) for kind in kinds]
    return out


def restore(log: Iterable[tuple[bytes, bytes | None]]) -> tuple[dict[str, ConsumerGroup], int]:
    """Groups rebuilt from consumer-group records in log order; also how many records were skipped."""
    latest: dict[ConsumerKey, dict[str, Any] | None] = {}
    skipped = 0
    for key, value in log:
        try:
            ck = decode_key(key)
            latest[ck] = None if value is None else decode_value(ck.kind, value)
        except ConsumerRecordError:
            skipped += 1
    groups: dict[str, ConsumerGroup] = {}
    for ck, v in latest.items():  # group metadata first: a group exists only with its metadata record
        if ck.kind == K.GROUP_METADATA and v is not None:
            groups[ck.group_id] = ConsumerGroup(ck.group_id, epoch=int(v["epoch"]),
                                                metadata_hash=int(v.get("metadata_hash", 0)))
    for ck, v in latest.items():
        g = groups.get(ck.group_id)
        if g is None or v is None or ck.kind == K.GROUP_METADATA:
            continue
        if ck.kind == K.PARTITION_METADATA:  # written before Kafka 4.1: the metadata itself, no hash
            g.subscribed_metadata = {str(t["topic_name"]): (t["topic_id"], int(t["num_partitions"]))
                                     for t in v["topics"]}
            g.legacy_partition_metadata = True
        elif ck.kind == K.TARGET_METADATA:
            g.assignment_epoch = int(v["assignment_epoch"])
        elif ck.kind == K.TARGET_MEMBER:
            g.target[ck.member_id] = from_wire(v["topic_partitions"])
        elif ck.kind == K.MEMBER_METADATA:
            m = g.members.setdefault(ck.member_id, ConsumerMember(ck.member_id))
            m.instance_id, m.rack_id = v["instance_id"], v["rack_id"]
            m.client_id, m.client_host = str(v["client_id"]), str(v["client_host"])
            m.subscribed_names = tuple(str(t) for t in v["subscribed_topic_names"])
            m.subscribed_regex, m.server_assignor = v["subscribed_topic_regex"], v["server_assignor"]
            m.rebalance_timeout_ms = int(v["rebalance_timeout_ms"])
            classic = v.get("classic_member_metadata")
            if classic is not None:
                m.classic = ClassicInfo(int(classic["session_timeout_ms"]),
                                        tuple((str(p["name"]), bytes(p["metadata"]))
                                              for p in classic["supported_protocols"]))
    for ck, v in latest.items():
        g = groups.get(ck.group_id)
        if g is None or v is None or ck.kind != K.CURRENT_ASSIGNMENT or ck.member_id not in g.members:
            continue
        m = g.members[ck.member_id]
        m.epoch, m.previous_epoch = int(v["member_epoch"]), int(v["previous_member_epoch"])
        try:
            m.state = MemberState(int(v["state"]))
        except ValueError:
            m.state = MemberState.UNKNOWN
        m.assigned = from_wire(v["assigned_partitions"])
        m.pending_revocation = from_wire(v["partitions_pending_revocation"])
    for g in groups.values():
        if g.legacy_partition_metadata and g.metadata_hash == 0:
            g.metadata_hash = metadata_hash(g.subscribed_metadata)
        g.target = {mid: a for mid, a in g.target.items() if mid in g.members}
        for mid, m in g.members.items():
            if m.instance_id is not None:
                g.static[m.instance_id] = mid
        g.refresh_state()
    return groups, skipped
