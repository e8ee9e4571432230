"""Decoding PostgreSQL's ``pgoutput`` logical replication messages.

Theory of operation: a logical replication stream (``START_REPLICATION ... LOGICAL``, or the SQL function
``pg_logical_slot_get_binary_changes``) delivers one pgoutput message per XLogData payload.  `decode`
turns one payload into a frozen value (`Begin`, `Relation`, `Insert`, ...), and nothing else: no state, no
I/O.  Column values stay as pgoutput sends them (`ColumnValue`: kind plus the raw bytes of the type's text
output format, or binary with ``binary=true``); pg_types.py maps them to Debezium's values once the
relation's column types are known from the preceding `Relation` message (cache it by OID; a new
`Relation` replaces the old one).

Protocol version 1 (what Debezium asks for) is the default.  With ``proto_version`` 2 and ``streaming``
on, changes of an in-progress transaction come between Stream Start and Stream Stop and carry their
transaction id; pass ``in_stream=True`` to `decode` for those (the caller knows, from the Stream Start it
saw).  Two-phase messages (v3) are not decoded: an unknown tag is a `PgOutputError`.

Anything malformed (truncated, an unknown tag or kind, bytes left over) raises `PgOutputError`, a
`ValueError`, never IndexError or struct.error.

Message layouts (PostgreSQL "Logical Replication Message Formats"; all integers big-endian and signed,
String = bytes up to a NUL, UTF-8; LSNs are Int64; timestamps Int64 µs since 2000-01-01 00:00 UTC;
``[xid]`` = Int32 transaction id, present only inside a streamed transaction)::

    'B' Begin     Int64 final LSN of the transaction, Int64 commit timestamp, Int32 xid
    'C' Commit    Int8 flags (0), Int64 commit LSN, Int64 end LSN of the transaction, Int64 commit timestamp
    'O' Origin    Int64 commit LSN on the origin server, String origin name
    'R' Relation  [xid], Int32 relation OID, String namespace ("" = pg_catalog), String relation name,
                  Int8 replica identity (relreplident: 'd' default, 'n' nothing, 'f' full, 'i' index),
                  Int16 column count, then per column:
                      Int8 flags (1 = part of the key), String name, Int32 type OID, Int32 atttypmod
    'Y' Type      [xid], Int32 type OID, String namespace ("" = pg_catalog), String type name
    'I' Insert    [xid], Int32 relation OID, Byte1 'N', TupleData new row
    'U' Update    [xid], Int32 relation OID, optionally (Byte1 'K' (old key) or 'O' (old row), TupleData),
                  Byte1 'N', TupleData new row
    'D' Delete    [xid], Int32 relation OID, Byte1 'K' (old key) or 'O' (old row), TupleData
    'T' Truncate  [xid], Int32 relation count, Int8 options (1 = CASCADE, 2 = RESTART IDENTITY),
                  Int32 relation OID per relation
    'M' Message   [xid], Int8 flags (1 = transactional), Int64 LSN, String prefix, Int32 length,
                  Byte[length] content
    'S' Stream Start   Int32 xid, Int8 1 if the first segment of this transaction
    'E' Stream Stop    (nothing)
    'c' Stream Commit  Int32 xid, Int8 flags (0), Int64 commit LSN, Int64 end LSN, Int64 commit timestamp
    'A' Stream Abort   Int32 xid, Int32 sub-transaction xid

    TupleData     Int16 column count, then per column Byte1 kind:
                      'n' NULL, 'u' unchanged TOASTed value (not sent),
                      't' text: Int32 length, Byte[length] (the type's text output format),
                      'b' binary: Int32 length, Byte[length] (the type's binary send format)
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final, Literal

PG_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
# Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
PG_EPOCH_OFFSET_US: Final = 946_684_800_000_000


class PgOutputError(ValueError):
    """A pgoutput message that cannot be decoded (truncated, unknown tag, trailing bytes)."""


class ValueKind(StrEnum):
    """How TupleData carries one column."""

    NULL = "n"
    UNCHANGED_TOAST = "u"
    TEXT = "t"
    BINARY = "b"


class ReplicaIdentity(StrEnum):
    """pg_class.relreplident."""

    DEFAULT = "d"
    NOTHING = "n"
    FULL = "f"
    INDEX = "i"


@dataclass(frozen=True, slots=True)
class ColumnValue:
    """One column of a TupleData: its kind and, for text/binary, the bytes (None otherwise)."""

    kind: ValueKind
    data: bytes | None = None

    def text(self) -> str | None:
        """The value as text (a 't' column decoded as UTF-8); None for NULL or an unchanged TOAST value."""
        if self.data is None:
            return None
        return self.data.decode("utf-8")


TupleData = tuple[ColumnValue, ...]
OldKind = Literal["K", "O"]


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: int
    commit_ts_us: int  # µs since the Unix epoch (converted from PostgreSQL's epoch)
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int  # µs since the Unix epoch


@dataclass(frozen=True, slots=True)
class Origin:
    commit_lsn: int
    name: str


@dataclass(frozen=True, slots=True)
class RelationColumn:
    key: bool
    name: str
    type_oid: int
    type_modifier: int


@dataclass(frozen=True, slots=True)
class Relation:
    oid: int
    namespace: str
    name: str
    replica_identity: ReplicaIdentity
    columns: tuple[RelationColumn, ...]
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class Type:
    oid: int
    namespace: str
    name: str
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class Insert:
    relation_oid: int
    new: TupleData
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class Update:
    relation_oid: int
    old_kind: OldKind | None
    old: TupleData | None
    new: TupleData
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    relation_oid: int
    old_kind: OldKind
    old: TupleData
    xid: int | None = None


class TruncateOption:
    CASCADE: Final = 1
    RESTART_IDENTITY: Final = 2


@dataclass(frozen=True, slots=True)
class Truncate:
    options: int  # bit set of TruncateOption
    relation_oids: tuple[int, ...]
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    transactional: bool
    lsn: int
    prefix: str
    content: bytes
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class StreamStart:
    xid: int
    first_segment: bool


@dataclass(frozen=True, slots=True)
class StreamStop:
    pass


@dataclass(frozen=True, slots=True)
class StreamCommit:
    xid: int
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


@dataclass(frozen=True, slots=True)
class StreamAbort:
    xid: int
    subxid: int


PgOutputMessage = (Begin | Commit | Origin | Relation | Type | Insert | Update | Delete | Truncate | Message
                   | StreamStart | StreamStop | StreamCommit | StreamAbort)

_INT8: Final = struct.Struct(">b")
_INT16: Final = struct.Struct(">h")
_INT32: Final = struct.Struct(">i")
_UINT32: Final = struct.Struct(">I")
_INT64: Final = struct.Struct(">q")
_UINT64: Final = struct.Struct(">Q")


def pg_time_to_unix_us(pg_us: int) -> int:
    """µs since 2000-01-01 UTC → µs since 1970-01-01 UTC."""
    return pg_us + PG_EPOCH_OFFSET_US


def unix_us_to_datetime(unix_us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=unix_us)


def format_lsn(lsn: int) -> str:
    """An LSN as PostgreSQL writes it: ``16/B374D848``."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, sep, low = text.partition("/")
    if not sep:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(high, 16) << 32) | int(low, 16)


class _Reader:
    """Reads a message front to back; every shortfall is a PgOutputError naming what was being read."""

    __slots__ = ("_data", "_pos", "tag")

    def __init__(self, data: bytes, tag: str) -> None:
        self._data = data
        self._pos = 1
        self.tag = tag

    def take(self, size: int, what: str) -> bytes:
        end = self._pos + size
        if size < 0 or end > len(self._data):
            raise PgOutputError(f"pgoutput {self.tag!r} message truncated reading {what} "
                                f"at byte {self._pos} of {len(self._data)}")
        chunk = self._data[self._pos:end]
        self._pos = end
        return chunk

    def int8(self, what: str) -> int:
        return int(_INT8.unpack(self.take(1, what))[0])

    def byte(self, what: str) -> str:
        return chr(self.take(1, what)[0])

    def int16(self, what: str) -> int:
        return int(_INT16.unpack(self.take(2, what))[0])

    def int32(self, what: str) -> int:
        return int(_INT32.unpack(self.take(4, what))[0])

    def oid(self, what: str) -> int:
        return int(_UINT32.unpack(self.take(4, what))[0])

    def int64(self, what: str) -> int:
        return int(_INT64.unpack(self.take(8, what))[0])

    def lsn(self, what: str) -> int:
        return int(_UINT64.unpack(self.take(8, what))[0])

    def string(self, what: str) -> str:
        end = self._data.find(b"\x00", self._pos)
        if end < 0:
            raise PgOutputError(f"pgoutput {self.tag!r} message truncated: {what} has no terminating NUL")
        raw = self._data[self._pos:end]
        self._pos = end + 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PgOutputError(f"pgoutput {self.tag!r} message: {what} is not UTF-8") from exc

    def tuple_data(self, what: str) -> TupleData:
        count = self.int16(f"{what} column count")
        if count < 0:
            raise PgOutputError(f"pgoutput {self.tag!r} message: negative column count {count} in {what}")
        values: list[ColumnValue] = []
        for index in range(count):
            kind = self.byte(f"{what} column {index} kind")
            if kind in ("t", "b"):
                length = self.int32(f"{what} column {index} length")
                if length < 0:
                    raise PgOutputError(f"pgoutput {self.tag!r} message: negative length {length} "
                                        f"of {what} column {index}")
                values.append(ColumnValue(ValueKind(kind), self.take(length, f"{what} column {index} value")))
            elif kind in ("n", "u"):
                values.append(ColumnValue(ValueKind(kind)))
            else:
                raise PgOutputError(f"pgoutput {self.tag!r} message: unknown column kind {kind!r} "
                                    f"in {what} column {index}")
        return tuple(values)

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise PgOutputError(f"pgoutput {self.tag!r} message has {len(self._data) - self._pos} "
                                f"trailing bytes")


def decode(payload: bytes, *, in_stream: bool = False) -> PgOutputMessage:
    """Decode one pgoutput message.  ``in_stream``: the message is inside Stream Start/Stop (protocol 2+),
    so the data messages carry a transaction id."""
    if not payload:
        raise PgOutputError("empty pgoutput message")
    tag = chr(payload[0])
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise PgOutputError(f"unknown pgoutput message tag {tag!r} (byte 0x{payload[0]:02x})")
    reader = _Reader(bytes(payload), tag)
    message = decoder(reader, in_stream)
    reader.finish()
    return message


def _xid(reader: _Reader, in_stream: bool) -> int | None:
    return reader.oid("xid") if in_stream else None


def _begin(r: _Reader, _in_stream: bool) -> Begin:
    final_lsn = r.lsn("final LSN")
    commit_ts = pg_time_to_unix_us(r.int64("commit timestamp"))
    return Begin(final_lsn, commit_ts, r.oid("xid"))


def _commit(r: _Reader, _in_stream: bool) -> Commit:
    flags = r.int8("flags")
    commit_lsn = r.lsn("commit LSN")
    end_lsn = r.lsn("end LSN")
    return Commit(flags, commit_lsn, end_lsn, pg_time_to_unix_us(r.int64("commit timestamp")))


def _origin(r: _Reader, _in_stream: bool) -> Origin:
    lsn = r.lsn("origin commit LSN")
    return Origin(lsn, r.string("origin name"))


def _relation(r: _Reader, in_stream: bool) -> Relation:
    xid = _xid(r, in_stream)
    oid = r.oid("relation OID")
    namespace = r.string("namespace")
    name = r.string("relation name")
    identity = r.byte("replica identity")
    try:
        replica_identity = ReplicaIdentity(identity)
    except ValueError:
        raise PgOutputError(f"pgoutput 'R' message: unknown replica identity {identity!r}") from None
    count = r.int16("column count")
    if count < 0:
        raise PgOutputError(f"pgoutput 'R' message: negative column count {count}")
    columns = []
    for index in range(count):
        flags = r.int8(f"column {index} flags")
        column_name = r.string(f"column {index} name")
        type_oid = r.oid(f"column {index} type OID")
        type_modifier = r.int32(f"column {index} typmod")
        columns.append(RelationColumn(bool(flags & 1), column_name, type_oid, type_modifier))
    return Relation(oid, namespace, name, replica_identity, tuple(columns), xid)


def _type(r: _Reader, in_stream: bool) -> Type:
    xid = _xid(r, in_stream)
    oid = r.oid("type OID")
    namespace = r.string("namespace")
    return Type(oid, namespace, r.string("type name"), xid)


def _expect_new(r: _Reader, marker: str) -> None:
    if marker != "N":
        raise PgOutputError(f"pgoutput {r.tag!r} message: expected 'N' before the new tuple, got {marker!r}")


def _insert(r: _Reader, in_stream: bool) -> Insert:
    xid = _xid(r, in_stream)
    oid = r.oid("relation OID")
    _expect_new(r, r.byte("new tuple marker"))
    return Insert(oid, r.tuple_data("new tuple"), xid)


def _update(r: _Reader, in_stream: bool) -> Update:
    xid = _xid(r, in_stream)
    oid = r.oid("relation OID")
    marker = r.byte("tuple marker")
    old_kind: OldKind | None = None
    old: TupleData | None = None
    if marker in ("K", "O"):
        old_kind = "K" if marker == "K" else "O"
        old = r.tuple_data("old tuple")
        marker = r.byte("new tuple marker")
    _expect_new(r, marker)
    return Update(oid, old_kind, old, r.tuple_data("new tuple"), xid)


def _delete(r: _Reader, in_stream: bool) -> Delete:
    xid = _xid(r, in_stream)
    oid = r.oid("relation OID")
    marker = r.byte("tuple marker")
    if marker not in ("K", "O"):
        raise PgOutputError(f"pgoutput 'D' message: expected 'K' or 'O' before the old tuple, got {marker!r}")
    old_kind: OldKind = "K" if marker == "K" else "O"
    return Delete(oid, old_kind, r.tuple_data("old tuple"), xid)


def _truncate(r: _Reader, in_stream: bool) -> Truncate:
    xid = _xid(r, in_stream)
    count = r.int32("relation count")
    if count < 0:
        raise PgOutputError(f"pgoutput 'T' message: negative relation count {count}")
    options = r.int8("options")
    return Truncate(options, tuple(r.oid(f"relation {index} OID") for index in range(count)), xid)


def _message(r: _Reader, in_stream: bool) -> Message:
    xid = _xid(r, in_stream)
    flags = r.int8("flags")
    lsn = r.lsn("LSN")
    prefix = r.string("prefix")
    length = r.int32("content length")
    if length < 0:
        raise PgOutputError(f"pgoutput 'M' message: negative content length {length}")
    return Message(bool(flags & 1), lsn, prefix, r.take(length, "content"), xid)


def _stream_start(r: _Reader, _in_stream: bool) -> StreamStart:
    xid = r.oid("xid")
    return StreamStart(xid, r.int8("first segment") == 1)


def _stream_stop(_r: _Reader, _in_stream: bool) -> StreamStop:
    return StreamStop()


def _stream_commit(r: _Reader, _in_stream: bool) -> StreamCommit:
    xid = r.oid("xid")
    flags = r.int8("flags")
    commit_lsn = r.lsn("commit LSN")
    end_lsn = r.lsn("end LSN")
    return StreamCommit(xid, flags, commit_lsn, end_lsn, pg_time_to_unix_us(r.int64("commit timestamp")))


def _stream_abort(r: _Reader, _in_stream: bool) -> StreamAbort:
    xid = r.oid("xid")
    return StreamAbort(xid, r.oid("sub-transaction xid"))


_DECODERS: Final[dict[str, Callable[[_Reader, bool], PgOutputMessage]]] = {
    "B": _begin, "C": _commit, "O": _origin, "R": _relation, "Y": _type, "I": _insert, "U": _update,
    "D": _delete, "T": _truncate, "M": _message, "S": _stream_start, "E": _stream_stop, "c": _stream_commit,
    "A": _stream_abort,
}
