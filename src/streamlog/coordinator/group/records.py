"""The record format of the internal compacted log ``__consumer_offsets``.

Theory of operation: every durable fact about groups is one keyed record; a later record with the same
key supersedes an earlier one, and a record with a null value (a tombstone) deletes the key.  So the
log can be compacted by key, and replaying it from the start, last write wins, rebuilds the state.
Three kinds of key exist: a committed offset, keyed by (group, topic, partition); a group's metadata
(generation, protocol, leader and members, static ones included, with their assignments), keyed by the
group alone; and an offset staged by an open transaction, keyed by (group, topic, partition,
producer id), tombstoned when the transaction ends.  All integers are big-endian.  This is
Streamlog's own format, not Kafka's.

Key::

    type            int8     0 = committed offset, 1 = group metadata, 2 = offset staged by a transaction
    group_id        string   int16 byte length, then UTF-8
    topic           string   (types 0 and 2)
    partition       int32    (types 0 and 2)
    producer_id     int64    (type 2 only)

Offset value (types 0 and 2; null = the offset was deleted, expired, or its transaction ended)::

    version          int8     0
    offset           int64
    leader_epoch     int32    -1 when unknown
    commit_timestamp int64    ms
    expire_timestamp int64    ms; -1 = retention counts from when the group became Empty
    metadata         string?  int16 byte length (-1 = null), then UTF-8

Group value (type 1; null = the group was deleted)::

    version          int8     0
    protocol_type    string?  null for a group that only stores offsets
    generation       int32
    protocol_name    string?
    leader           string?
    state_timestamp  int64    ms; when the group entered its state (Empty: retention starts here)
    member_count     int32
    members          member_count times:
        member_id          string
        group_instance_id  string?  (static members survive a restart through this)
        client_id          string
        client_host        string
        session_timeout    int32    ms
        rebalance_timeout  int32    ms
        subscription       bytes    int32 length, then the metadata for the selected protocol
        assignment         bytes    int32 length, then the assignment the leader gave it
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from streamlog.coordinator.group.model import OffsetEntry

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_OFFSET_FIXED = struct.Struct(">bqiqq")


class RecordType(IntEnum):
    OFFSET = 0
    GROUP = 1
    PENDING_OFFSET = 2


class RecordError(ValueError):
    """A ``__consumer_offsets`` record that does not decode."""


@dataclass(frozen=True, slots=True)
class OffsetKey:
    group_id: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupKey:
    group_id: str


@dataclass(frozen=True, slots=True)
class PendingOffsetKey:
    group_id: str
    topic: str
    partition: int
    producer_id: int


@dataclass(frozen=True, slots=True)
class StoredMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class StoredGroup:
    protocol_type: str | None
    generation: int
    protocol_name: str | None
    leader: str | None
    state_timestamp: int
    members: tuple[StoredMember, ...] = ()


# --- writing ---------------------------------------------------------------------------------------


def _str(out: bytearray, value: str | None) -> None:
    if value is None:
        out += _I16.pack(-1)
        return
    raw = value.encode("utf-8")
    if len(raw) > 0x7FFF:
        raise RecordError("string longer than 32767 bytes")
    out += _I16.pack(len(raw))
    out += raw


def _bytes(out: bytearray, value: bytes) -> None:
    out += _I32.pack(len(value))
    out += value


def offset_key(group_id: str, topic: str, partition: int) -> bytes:
    out = bytearray(_I8.pack(RecordType.OFFSET))
    _str(out, group_id)
    _str(out, topic)
    out += _I32.pack(partition)
    return bytes(out)


def pending_offset_key(group_id: str, topic: str, partition: int, producer_id: int) -> bytes:
    out = bytearray(_I8.pack(RecordType.PENDING_OFFSET))
    _str(out, group_id)
    _str(out, topic)
    out += _I32.pack(partition)
    out += _I64.pack(producer_id)
    return bytes(out)


def group_key(group_id: str) -> bytes:
    out = bytearray(_I8.pack(RecordType.GROUP))
    _str(out, group_id)
    return bytes(out)


def offset_value(entry: OffsetEntry) -> bytes:
    out = bytearray(_OFFSET_FIXED.pack(0, entry.offset, entry.leader_epoch, entry.commit_timestamp,
                                       entry.expire_timestamp))
    _str(out, entry.metadata)
    return bytes(out)


def group_value(group: StoredGroup) -> bytes:
    out = bytearray(_I8.pack(0))
    _str(out, group.protocol_type)
    out += _I32.pack(group.generation)
    _str(out, group.protocol_name)
    _str(out, group.leader)
    out += _I64.pack(group.state_timestamp)
    out += _I32.pack(len(group.members))
    for m in group.members:
        _str(out, m.member_id)
        _str(out, m.group_instance_id)
        _str(out, m.client_id)
        _str(out, m.client_host)
        out += _I32.pack(m.session_timeout_ms)
        out += _I32.pack(m.rebalance_timeout_ms)
        _bytes(out, m.subscription)
        _bytes(out, m.assignment)
    return bytes(out)


# --- reading ---------------------------------------------------------------------------------------


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, st: struct.Struct) -> int:
        if self.pos + st.size > len(self.buf):
            raise RecordError("record ends early")
        (value,) = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return int(value)

    def raw(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise RecordError("record ends early")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return bytes(out)

    def opt_str(self) -> str | None:
        n = self.take(_I16)
        if n == -1:
            return None
        try:
            return self.raw(n).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordError(f"bad UTF-8: {exc}") from None

    def str(self) -> str:
        value = self.opt_str()
        if value is None:
            raise RecordError("null where a string is required")
        return value

    def bytes(self) -> bytes:
        return self.raw(self.take(_I32))

    def done(self) -> None:
        if self.pos != len(self.buf):
            raise RecordError("trailing bytes in record")


def decode_key(key: bytes) -> OffsetKey | GroupKey | PendingOffsetKey:
    r = _Reader(key)
    kind = r.take(_I8)
    group_id = r.str()
    if kind in (RecordType.OFFSET, RecordType.PENDING_OFFSET):
        topic = r.str()
        partition = r.take(_I32)
        if kind == RecordType.OFFSET:
            r.done()
            return OffsetKey(group_id, topic, partition)
        producer_id = r.take(_I64)
        r.done()
        return PendingOffsetKey(group_id, topic, partition, producer_id)
    if kind == RecordType.GROUP:
        r.done()
        return GroupKey(group_id)
    raise RecordError(f"unknown record type {kind}")


def decode_offset_value(value: bytes) -> OffsetEntry:
    r = _Reader(value)
    version = r.take(_I8)
    if version != 0:
        raise RecordError(f"unknown offset value version {version}")
    offset = r.take(_I64)
    epoch = r.take(_I32)
    committed = r.take(_I64)
    expires = r.take(_I64)
    metadata = r.opt_str()
    r.done()
    return OffsetEntry(offset, epoch, metadata, committed, expires)


def decode_group_value(value: bytes) -> StoredGroup:
    r = _Reader(value)
    version = r.take(_I8)
    if version != 0:
        raise RecordError(f"unknown group value version {version}")
    protocol_type = r.opt_str()
    generation = r.take(_I32)
    protocol_name = r.opt_str()
    leader = r.opt_str()
    state_ts = r.take(_I64)
    count = r.take(_I32)
    if count < 0 or count > len(value):
        raise RecordError("bad member count")
    members = []
    for _ in range(count):
        members.append(StoredMember(
            member_id=r.str(), group_instance_id=r.opt_str(), client_id=r.str(), client_host=r.str(),
            session_timeout_ms=r.take(_I32), rebalance_timeout_ms=r.take(_I32),
            subscription=r.bytes(), assignment=r.bytes(),
        ))
    r.done()
    return StoredGroup(protocol_type, generation, protocol_name, leader, state_ts, tuple(members))
