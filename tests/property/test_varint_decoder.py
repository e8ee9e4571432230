"""Hypothesis: the record varint decoder (``protocol.records.varint``) against a plain reference.

The reference below decodes one byte at a time, as the format is written down, with none of the
decoder's tables, unrolled fast paths or fallbacks. For every int32 and int64 value (zig-zag, any
width, and padded encodings no longer than the limit) the decoder agrees with it, both through
``read_varint`` and in every varint position of a record (``iter_record_heads`` and
``read_record_tail``); random whole records decode to what the reference record parser finds;
input cut short anywhere and encodings longer than the limit (5 bytes for a VARINT, 10 for a
VARLONG) raise ``CorruptRecordError``, the module's documented error (a section cut exactly
between two records is a record-count mismatch, ``InvalidRecordError``).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.protocol.records.errors import CorruptRecordError, InvalidRecordError
from streamlog.protocol.records.varint import (
    VARINT_MAX_BYTES,
    VARLONG_MAX_BYTES,
    ZIGZAG_FIRST,
    ZIGZAG_STEP,
    iter_record_heads,
    read_record_tail,
    read_varint,
)

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
# Values near every width boundary as well as anywhere.
EDGES = st.sampled_from([0, -1, 1, 63, -64, 64, -65, 8191, -8192, 8192, -8193, 2**20, -(2**20)])
INT32S = INT32 | EDGES
INT64S = INT64 | EDGES | st.sampled_from([2**31, -(2**31) - 1, 2**62, -(2**62) - 1])
PROPERTY = settings(max_examples=300, deadline=None)


class Truncated(Exception):
    pass


class Overlong(Exception):
    pass


def ref_encode(value: int, pad_to: int = 0) -> bytes:
    """Zig-zag, then 7 bits a byte, low group first; padded with empty groups to ``pad_to`` bytes."""
    n = (value << 1) ^ (value >> 63)  # arithmetic shift: the 64-bit zig-zag (same as 32-bit for int32)
    assert n >= 0
    groups = []
    while True:
        groups.append(n & 0x7F)
        n >>= 7
        if n == 0:
            break
    groups += [0] * (pad_to - len(groups))
    return bytes([g | 0x80 for g in groups[:-1]] + [groups[-1]])


def ref_decode(buf: bytes, pos: int, max_bytes: int) -> tuple[int, int]:
    raw = 0
    for i in range(max_bytes):
        if pos + i >= len(buf):
            raise Truncated
        byte = buf[pos + i]
        raw |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            value = raw >> 1 if raw % 2 == 0 else -(raw >> 1) - 1
            return value, pos + i + 1
    raise Overlong


def ref_record(
    timestamp_delta: bytes, offset_delta: bytes, key: bytes | None, value: bytes | None,
    headers: list[tuple[bytes, bytes | None]], *, key_length: bytes | None = None,
) -> bytes:
    """One record, its varints given as raw encodings where the caller wants a say."""
    def blob(data: bytes | None) -> bytes:
        return ref_encode(-1) if data is None else ref_encode(len(data)) + data

    body = b"\x00" + timestamp_delta + offset_delta
    body += blob(key) if key_length is None else key_length + (key or b"")
    body += blob(value) + ref_encode(len(headers))
    for h_key, h_value in headers:
        body += blob(h_key) + blob(h_value)
    return ref_encode(len(body)) + body


def ref_parse(section: bytes, count: int) -> list[tuple[int, int, bytes | None, bytes | None, list[object]]]:
    """(timestamp delta, offset delta, key, value, headers) of each record, by the reference."""
    out: list[tuple[int, int, bytes | None, bytes | None, list[object]]] = []
    p = 0

    def blob(p: int) -> tuple[bytes | None, int]:
        n, p = ref_decode(section, p, VARINT_MAX_BYTES)
        return (None, p) if n == -1 else (section[p : p + n], p + n)

    for _ in range(count):
        length, p = ref_decode(section, p, VARINT_MAX_BYTES)
        end = p + length
        ts, p = ref_decode(section, p + 1, VARLONG_MAX_BYTES)
        delta, p = ref_decode(section, p, VARINT_MAX_BYTES)
        key, p = blob(p)
        value, p = blob(p)
        n, p = ref_decode(section, p, VARINT_MAX_BYTES)
        headers: list[object] = []
        for _ in range(n):
            h_key, p = blob(p)
            h_value, p = blob(p)
            headers.append((h_key, h_value))
        assert p == end
        out.append((ts, delta, key, value, headers))
    return out


def decode(section: bytes, count: int) -> list[tuple[int, int, bytes | None, bytes | None, list[object]]]:
    """The same, by the decoder under test."""
    out: list[tuple[int, int, bytes | None, bytes | None, list[object]]] = []
    heads = iter_record_heads(section, 0, len(section), count)
    for _s, _b, _a, end, ts, delta, key, key_length, tail in heads:
        value_start, value_length, spans = read_record_tail(section, tail, end)
        out.append((
            ts,
            delta,
            None if key_length < 0 else section[key:tail],
            None if value_length < 0 else section[value_start : value_start + value_length],
            [(section[k : k + kn], None if vn < 0 else section[v : v + vn]) for k, kn, v, vn in spans],
        ))
    return out


def test_tables_agree_with_the_reference_for_every_one_and_two_byte_encoding() -> None:
    for b in range(0x80):
        assert ZIGZAG_FIRST[b] == ref_decode(bytes([b]), 0, 1)[0]
    for b in range(0x80, 0x100):
        for c in range(0x80):
            assert ZIGZAG_FIRST[b] + ZIGZAG_STEP[b] * c == ref_decode(bytes([b, c]), 0, 2)[0]


@PROPERTY
@given(INT32S, st.integers(0, VARINT_MAX_BYTES), st.binary(max_size=3))
def test_int32_values_decode_as_the_reference(value: int, pad: int, after: bytes) -> None:
    encoded = ref_encode(value, pad)
    assert len(encoded) <= VARINT_MAX_BYTES
    buf = b"\x07" + encoded + after
    expected = (value, 1 + len(encoded))
    assert read_varint(buf, 1, VARINT_MAX_BYTES) == ref_decode(buf, 1, VARINT_MAX_BYTES) == expected


@PROPERTY
@given(INT64S, st.integers(0, VARLONG_MAX_BYTES), st.binary(max_size=3))
def test_int64_values_decode_as_the_reference(value: int, pad: int, after: bytes) -> None:
    encoded = ref_encode(value, pad)
    assert len(encoded) <= VARLONG_MAX_BYTES
    buf = b"\x07" + encoded + after
    assert read_varint(buf, 1) == ref_decode(buf, 1, VARLONG_MAX_BYTES) == (value, 1 + len(encoded))


@PROPERTY
@given(INT64S, INT32S, st.integers(0, 3), st.integers(0, 3))
def test_every_record_varint_position_decodes_as_the_reference(
    timestamp_delta: int, offset_delta: int, pad_ts: int, pad_delta: int
) -> None:
    """Timestamp delta (VARLONG) and offset delta (VARINT) take any value; the lengths take every
    width from the keys, values and headers sizes below."""
    records = [
        ref_record(ref_encode(timestamp_delta, pad_ts), ref_encode(offset_delta, pad_delta), b"k" * size,
                   None if size % 3 == 0 else b"v" * (size * 7),
                   [(b"h" * size, b"x" * (size % 200))] * (size % 3))
        for size in (0, 1, 63, 64, 100, 8191, 8192, 9000)
    ]
    section = b"".join(records)
    assert decode(section, len(records)) == ref_parse(section, len(records))
    assert [r[0] for r in decode(section, len(records))] == [timestamp_delta] * len(records)


RefRecord = tuple[int, int, bytes | None, bytes | None, list[tuple[bytes, bytes | None]]]
blobs = st.none() | st.binary(max_size=70) | st.integers(60, 9000).map(lambda n: b"b" * n)
ref_records = st.lists(
    st.tuples(INT64S, INT32S, blobs, blobs, st.lists(st.tuples(st.binary(max_size=70), blobs), max_size=3)),
    min_size=1,
    max_size=6,
)


@PROPERTY
@given(ref_records)
def test_random_records_decode_as_the_reference(records: list[RefRecord]) -> None:
    section = b"".join(ref_record(ref_encode(ts), ref_encode(d), k, v, h) for ts, d, k, v, h in records)
    assert decode(section, len(records)) == ref_parse(section, len(records))


@PROPERTY
@given(ref_records, st.data())
def test_a_section_cut_short_is_corrupt(records: list[RefRecord], data: st.DataObject) -> None:
    encoded = [ref_record(ref_encode(ts), ref_encode(d), k, v, h) for ts, d, k, v, h in records]
    section = b"".join(encoded)
    cut = data.draw(st.integers(0, len(section) - 1))
    boundaries = {sum(len(r) for r in encoded[:i]) for i in range(len(encoded))}
    expected = InvalidRecordError if cut in boundaries else CorruptRecordError
    with pytest.raises(expected):
        decode(section[:cut], len(records))


@PROPERTY
@given(INT64S, st.integers(1, VARLONG_MAX_BYTES - 1))
def test_a_varint_cut_short_is_corrupt(value: int, pad: int) -> None:
    encoded = ref_encode(value, pad)
    for cut in range(len(encoded)):
        with pytest.raises(CorruptRecordError, match="past the end"):
            read_varint(encoded[:cut], 0)
        with pytest.raises(Truncated):
            ref_decode(encoded[:cut], 0, VARLONG_MAX_BYTES)


overlong_int32 = st.integers(VARINT_MAX_BYTES + 1, 12)
overlong_int64 = st.integers(VARLONG_MAX_BYTES + 1, 14)


@PROPERTY
@given(INT32S, overlong_int32)
def test_an_overlong_int32_is_corrupt(value: int, width: int) -> None:
    encoded = ref_encode(value, width)
    with pytest.raises(Overlong):
        ref_decode(encoded, 0, VARINT_MAX_BYTES)
    with pytest.raises(CorruptRecordError, match="longer than 5 bytes"):
        read_varint(encoded, 0, VARINT_MAX_BYTES)
    # In a record: as its length, its offset delta, its key length and, past the head, its value
    # length (all VARINTs).
    good = ref_encode(0)
    with pytest.raises(CorruptRecordError, match="longer than 5 bytes"):
        list(iter_record_heads(encoded + b"\x00" * 40, 0, len(encoded) + 40, 1))
    record = ref_record(good, encoded, b"k", b"v", [])
    with pytest.raises(CorruptRecordError, match="longer than 5 bytes"):
        list(iter_record_heads(record, 0, len(record), 1))
    record = ref_record(good, good, b"", b"v", [], key_length=encoded)
    with pytest.raises(CorruptRecordError, match="longer than 5 bytes"):
        list(iter_record_heads(record, 0, len(record), 1))
    record = ref_record(good, good, b"k", None, []).replace(b"k" + ref_encode(-1), b"k" + encoded)
    record = ref_encode(len(record) - 1) + record[1:]
    ((*_, end, _ts, _d, _k, _kl, tail),) = iter_record_heads(record, 0, len(record), 1)
    with pytest.raises(CorruptRecordError, match="longer than 5 bytes"):
        read_record_tail(record, tail, end)


@PROPERTY
@given(INT64S, overlong_int64)
def test_an_overlong_int64_is_corrupt(value: int, width: int) -> None:
    encoded = ref_encode(value, width)
    with pytest.raises(Overlong):
        ref_decode(encoded, 0, VARLONG_MAX_BYTES)
    with pytest.raises(CorruptRecordError, match="longer than 10 bytes"):
        read_varint(encoded, 0)
    record = ref_record(encoded, ref_encode(0), b"k", b"v", [])  # as a record's timestamp delta
    with pytest.raises(CorruptRecordError, match="longer than 10 bytes"):
        list(iter_record_heads(record, 0, len(record), 1))
