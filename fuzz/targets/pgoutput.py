"""Target ``pgoutput``: PostgreSQL's logical replication messages (connect/sources/pgoutput.py).

Input: ``[flags][message]``; flags bit 0 decodes the message as inside a streamed transaction
(``in_stream=True``: data messages carry a transaction id).

Documented refusal: ``PgOutputError`` (truncated, unknown tag or kind, trailing bytes).

Invariants: an accepted message re-encodes (with `encode`, written from the documented layouts) to
bytes that decode to the same message, and those bytes are the input itself unless the input set
flag bits the decoder normalizes (only bit 0 of a Relation column's or a Message's flags counts; a
Stream Start's first-segment byte is read as ``== 1``); every proper prefix of an accepted message
is refused.
"""

from __future__ import annotations

import struct

from fuzz.common import check
from streamlog.connect.sources.pgoutput import (
    PG_EPOCH_OFFSET_US,
    Begin,
    Commit,
    Delete,
    Insert,
    Message,
    Origin,
    PgOutputError,
    PgOutputMessage,
    Relation,
    StreamAbort,
    StreamCommit,
    StreamStart,
    StreamStop,
    Truncate,
    TupleData,
    Type,
    Update,
    ValueKind,
    decode,
)


def _s(text: str) -> bytes:
    return text.encode() + b"\x00"


def _ts(unix_us: int) -> bytes:
    return struct.pack(">q", unix_us - PG_EPOCH_OFFSET_US)


def _tuple(values: TupleData) -> bytes:
    out = struct.pack(">h", len(values))
    for value in values:
        out += value.kind.encode()
        if value.kind in (ValueKind.TEXT, ValueKind.BINARY):
            assert value.data is not None
            out += struct.pack(">i", len(value.data)) + value.data
    return out


def _xid(xid: int | None) -> bytes:
    return b"" if xid is None else struct.pack(">I", xid)


def encode(message: PgOutputMessage) -> bytes:
    match message:
        case Begin(final_lsn, ts, xid):
            return b"B" + struct.pack(">Q", final_lsn) + _ts(ts) + struct.pack(">I", xid)
        case Commit(flags, commit_lsn, end_lsn, ts):
            return b"C" + struct.pack(">bQQ", flags, commit_lsn, end_lsn) + _ts(ts)
        case Origin(lsn, name):
            return b"O" + struct.pack(">Q", lsn) + _s(name)
        case Relation(oid, namespace, name, identity, columns, xid):
            out = b"R" + _xid(xid) + struct.pack(">I", oid) + _s(namespace) + _s(name) + identity.encode()
            out += struct.pack(">h", len(columns))
            for column in columns:
                out += struct.pack(">b", int(column.key)) + _s(column.name)
                out += struct.pack(">Ii", column.type_oid, column.type_modifier)
            return out
        case Type(oid, namespace, name, xid):
            return b"Y" + _xid(xid) + struct.pack(">I", oid) + _s(namespace) + _s(name)
        case Insert(oid, new, xid):
            return b"I" + _xid(xid) + struct.pack(">I", oid) + b"N" + _tuple(new)
        case Update(oid, old_kind, old, new, xid):
            out = b"U" + _xid(xid) + struct.pack(">I", oid)
            if old_kind is not None:
                assert old is not None
                out += old_kind.encode() + _tuple(old)
            return out + b"N" + _tuple(new)
        case Delete(oid, old_kind, old, xid):
            return b"D" + _xid(xid) + struct.pack(">I", oid) + old_kind.encode() + _tuple(old)
        case Truncate(options, oids, xid):
            return (b"T" + _xid(xid) + struct.pack(">ib", len(oids), options)
                    + b"".join(struct.pack(">I", oid) for oid in oids))
        case Message(transactional, lsn, prefix, content, xid):
            return (b"M" + _xid(xid) + struct.pack(">bQ", int(transactional), lsn) + _s(prefix)
                    + struct.pack(">i", len(content)) + content)
        case StreamStart(xid, first):
            return b"S" + struct.pack(">Ib", xid, int(first))
        case StreamStop():
            return b"E"
        case StreamCommit(xid, flags, commit_lsn, end_lsn, ts):
            return b"c" + struct.pack(">IbQQ", xid, flags, commit_lsn, end_lsn) + _ts(ts)
        case StreamAbort(xid, subxid):
            return b"A" + struct.pack(">II", xid, subxid)
    raise AssertionError(message)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    in_stream = bool(data[0] & 1)
    payload = data[1:]
    try:
        message = decode(payload, in_stream=in_stream)
    except PgOutputError:
        return
    again = encode(message)
    check(decode(again, in_stream=in_stream) == message, f"re-encoded {message!r} decodes differently")
    normalizing = isinstance(message, Relation | Message | StreamStart)
    check(normalizing or again == payload, f"{message!r} re-encodes to other bytes")
    cuts = range(len(payload)) if len(payload) <= 256 else (0, 1, len(payload) // 2, len(payload) - 1)
    for cut in cuts:
        try:
            decode(payload[:cut], in_stream=in_stream)
        except PgOutputError:
            continue
        check(False, f"a {cut}-byte prefix of an accepted message decodes")
