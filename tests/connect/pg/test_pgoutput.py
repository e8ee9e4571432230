"""pgoutput decoding: hand-built messages, an encode → decode round trip over random messages (the encoder
here is written from the documented layouts, for tests only), random bytes raising only PgOutputError."""

from __future__ import annotations

import contextlib

import pytest
from fuzz.targets.pgoutput import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.connect.sources.pgoutput import (
    PG_EPOCH_OFFSET_US,
    Begin,
    ColumnValue,
    Commit,
    Delete,
    Insert,
    Message,
    Origin,
    PgOutputError,
    PgOutputMessage,
    Relation,
    RelationColumn,
    ReplicaIdentity,
    StreamAbort,
    StreamCommit,
    StreamStart,
    StreamStop,
    Truncate,
    Type,
    Update,
    ValueKind,
    decode,
    format_lsn,
    parse_lsn,
)

# -- hand-built messages ---------------------------------------------------------------------------

def test_begin_by_hand() -> None:
    # final LSN 0/16B3748, commit ts 2000-01-01 00:00:01 (1 s after PostgreSQL's epoch), xid 735
    payload = bytes.fromhex("42" "00000000016B3748" "00000000000F4240" "000002DF")
    assert decode(payload) == Begin(0x16B3748, PG_EPOCH_OFFSET_US + 1_000_000, 735)


def test_commit_by_hand() -> None:
    payload = bytes.fromhex("43" "00" "0000000100000010" "0000000100000040" "0000000000000000")
    assert decode(payload) == Commit(0, (1 << 32) | 0x10, (1 << 32) | 0x40, PG_EPOCH_OFFSET_US)


def test_relation_by_hand() -> None:
    payload = (b"R" + bytes.fromhex("00004001") + b"public\x00orders\x00" + b"f" + bytes.fromhex("0002")
               + b"\x01id\x00" + bytes.fromhex("00000017" "FFFFFFFF")
               + b"\x00price\x00" + bytes.fromhex("000006A4" "000A0006"))
    assert decode(payload) == Relation(
        0x4001, "public", "orders", ReplicaIdentity.FULL,
        (RelationColumn(True, "id", 23, -1), RelationColumn(False, "price", 1700, 0x000A0006)))


def test_update_with_old_row_by_hand() -> None:
    payload = (b"U" + bytes.fromhex("00004001") + b"O" + bytes.fromhex("0002")
               + b"t" + bytes.fromhex("00000001") + b"1" + b"n"
               + b"N" + bytes.fromhex("0002") + b"t" + bytes.fromhex("00000001") + b"1" + b"u")
    assert decode(payload) == Update(
        0x4001, "O", (ColumnValue(ValueKind.TEXT, b"1"), ColumnValue(ValueKind.NULL)),
        (ColumnValue(ValueKind.TEXT, b"1"), ColumnValue(ValueKind.UNCHANGED_TOAST)))


def test_update_without_old_and_insert_and_delete_by_hand() -> None:
    new = b"N" + bytes.fromhex("0001") + b"t" + bytes.fromhex("00000002") + b"42"
    row = (ColumnValue(ValueKind.TEXT, b"42"),)
    assert decode(b"U\x00\x00\x40\x01" + new) == Update(0x4001, None, None, row)
    assert decode(b"I\x00\x00\x40\x01" + new) == Insert(0x4001, row)
    assert decode(b"D\x00\x00\x40\x01K" + new[1:]) == Delete(0x4001, "K", row)


def test_truncate_message_and_in_stream_xid_by_hand() -> None:
    assert decode(bytes.fromhex("54" "00000002" "03" "00004001" "00004002")) == Truncate(3, (0x4001, 0x4002))
    payload = (b"M" + bytes.fromhex("01" "0000000000000100") + b"outbox\x00"
               + bytes.fromhex("00000003") + b"abc")
    assert decode(payload) == Message(True, 0x100, "outbox", b"abc")
    streamed = b"I" + bytes.fromhex("000003E8" "00004001") + b"N" + bytes.fromhex("0000")
    assert decode(streamed, in_stream=True) == Insert(0x4001, (), xid=1000)


def test_column_value_text() -> None:
    assert ColumnValue(ValueKind.TEXT, "zürich".encode()).text() == "zürich"
    assert ColumnValue(ValueKind.NULL).text() is None


@pytest.mark.parametrize(("payload", "fragment"), [
    (b"", "empty"),
    (b"Z123", "unknown pgoutput message tag 'Z'"),
    (b"B\x00\x00", "truncated reading final LSN"),
    (b"O" + bytes(8) + b"no-nul", "no terminating NUL"),
    (b"I\x00\x00\x00\x01X\x00\x00", "expected 'N'"),
    (b"I\x00\x00\x00\x01N\x00\x01q", "unknown column kind 'q'"),
    (b"I\x00\x00\x00\x01N\x00\x01t\x00\x00\x00\x09abc", "truncated reading new tuple column 0 value"),
    (b"I\x00\x00\x00\x01N\x00\x01t\xff\xff\xff\xff", "negative length"),
    (b"E\x00", "1 trailing bytes"),
    (b"R\x00\x00\x00\x01a\x00b\x00x\x00\x00", "unknown replica identity 'x'"),
    (b"D\x00\x00\x00\x01N\x00\x00", "expected 'K' or 'O'"),
])
def test_malformed_messages(payload: bytes, fragment: str) -> None:
    with pytest.raises(PgOutputError, match=fragment.replace("(", r"\(")):
        decode(payload)


def test_lsn_text() -> None:
    assert format_lsn((0x16 << 32) | 0xB374D848) == "16/B374D848"
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert parse_lsn(format_lsn(0)) == 0


# -- properties ------------------------------------------------------------------------------------

_u32 = st.integers(0, 2**32 - 1)
_i32 = st.integers(-(2**31), 2**31 - 1)
_lsn = st.integers(0, 2**64 - 1)
_ts_us = st.integers(-(2**62), 2**62)
_text = st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=20)
_value = st.one_of(
    st.builds(ColumnValue, st.sampled_from([ValueKind.NULL, ValueKind.UNCHANGED_TOAST])),
    st.builds(ColumnValue, st.sampled_from([ValueKind.TEXT, ValueKind.BINARY]), st.binary(max_size=30)),
)
_tuple_data = st.lists(_value, max_size=6).map(tuple)
_xids = st.one_of(st.none(), _u32)


@st.composite
def _messages(draw: st.DrawFn) -> tuple[PgOutputMessage, bool]:
    xid = draw(_xids)
    in_stream = xid is not None
    old_kind = draw(st.sampled_from(["K", "O"]))
    choices: list[st.SearchStrategy[PgOutputMessage]] = [
        st.builds(Relation, _u32, _text, _text, st.sampled_from(list(ReplicaIdentity)),
                  st.lists(st.builds(RelationColumn, st.booleans(), _text, _u32, _i32),
                           max_size=5).map(tuple),
                  st.just(xid)),
        st.builds(Type, _u32, _text, _text, st.just(xid)),
        st.builds(Insert, _u32, _tuple_data, st.just(xid)),
        st.builds(Update, _u32, st.just(None), st.just(None), _tuple_data, st.just(xid)),
        st.builds(Update, _u32, st.just(old_kind), _tuple_data, _tuple_data, st.just(xid)),
        st.builds(Delete, _u32, st.just(old_kind), _tuple_data, st.just(xid)),
        st.builds(Truncate, st.integers(0, 3), st.lists(_u32, max_size=5).map(tuple), st.just(xid)),
        st.builds(Message, st.booleans(), _lsn, _text, st.binary(max_size=40), st.just(xid)),
    ]
    if not in_stream:
        choices += [
            st.builds(Begin, _lsn, _ts_us, _u32),
            st.builds(Commit, st.just(0), _lsn, _lsn, _ts_us),
            st.builds(Origin, _lsn, _text),
            st.builds(StreamStart, _u32, st.booleans()),
            st.just(StreamStop()),
            st.builds(StreamCommit, _u32, st.just(0), _lsn, _lsn, _ts_us),
            st.builds(StreamAbort, _u32, _u32),
        ]
    return draw(st.one_of(choices)), in_stream


@given(_messages())
@settings(max_examples=400)
def test_encode_decode_round_trip(case: tuple[PgOutputMessage, bool]) -> None:
    message, in_stream = case
    assert decode(encode(message), in_stream=in_stream) == message


@given(_messages(), st.data())
def test_every_truncation_is_a_pgoutput_error(case: tuple[PgOutputMessage, bool],
                                              data: st.DataObject) -> None:
    message, in_stream = case
    payload = encode(message)
    cut = data.draw(st.integers(0, len(payload) - 1))
    with pytest.raises(PgOutputError):
        decode(payload[:cut], in_stream=in_stream)


@given(st.binary(max_size=80), st.booleans())
@settings(max_examples=500)
def test_random_bytes_raise_only_pgoutput_error(payload: bytes, in_stream: bool) -> None:
    with contextlib.suppress(PgOutputError):
        decode(payload, in_stream=in_stream)


@given(st.sampled_from(b"BCORYIUDTMScA"), st.binary(max_size=60), st.booleans())
@settings(max_examples=500)
def test_known_tags_with_random_bodies_raise_only_pgoutput_error(tag: int, body: bytes,
                                                                 in_stream: bool) -> None:
    with contextlib.suppress(PgOutputError):
        decode(bytes([tag]) + body, in_stream=in_stream)
