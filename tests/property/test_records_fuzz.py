"""Fuzzing the record-batch readers: any bytes either decode or raise CorruptRecordError/InvalidRecordError.

Four sources of input, from blind to targeted: random bytes; random bodies behind a plausible v2
header with a correct CRC (so the record parser is reached); valid batches with flipped bits or
cut short, with and without the CRC fixed up; and damaged records sections recompressed with a
valid codec (so the parser sees garbage behind working compression). Nothing else may escape:
not IndexError, struct.error, UnicodeDecodeError, ValueError, cramjam or zlib errors.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable

import crc32c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamlog.protocol.records import (
    Compression,
    CorruptRecordError,
    Header,
    InvalidRecordError,
    NewRecord,
    build_batch,
    compress,
    decompress,
    iter_batches,
    iter_records,
    parse_header,
    set_log_append_time,
    valid_prefix_length,
    validate_batch,
)
from streamlog.protocol.records.builder import encode_records

ALLOWED = (CorruptRecordError, InvalidRecordError)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMIT = 1 << 22  # decompression bound for fuzzing: small, so claimed sizes cannot exhaust memory


def attempt(fn: Callable[[], object]) -> None:
    with contextlib.suppress(*ALLOWED):
        fn()


def exercise(buf: bytes | bytearray, pos: int = 0) -> None:
    """Every reader on ``buf``; only the allowed exceptions may come out."""
    attempt(lambda: parse_header(buf, pos))
    attempt(lambda: list(iter_records(buf, pos, max_decompressed=LIMIT)))
    attempt(lambda: list(iter_batches(buf, pos)))
    try:
        header = parse_header(buf, pos)
    except CorruptRecordError:
        pass
    else:
        for require_keys in (False, True):
            with contextlib.suppress(*ALLOWED):
                validate_batch(
                    buf, pos, header, require_keys=require_keys, allow_control=True, max_decompressed=LIMIT
                )
    size = valid_prefix_length(buf, pos)  # never raises
    assert 0 <= size <= max(0, len(buf) - pos)
    assert valid_prefix_length(buf, pos, check_crc=False) >= size
    copy = bytearray(buf)
    attempt(lambda: set_log_append_time(copy, pos, 123))


def with_crc(batch: bytearray) -> bytearray:
    if len(batch) >= 61:
        struct.pack_into(">I", batch, 17, crc32c.crc32c(bytes(batch[21:])))
    return batch


def plausible_batch(body: bytes, attributes: int, count: int, last_offset_delta: int) -> bytearray:
    batch = bytearray(61) + body
    fields = (0, len(batch) - 12, -1, 2, 0, attributes, last_offset_delta, 0, 0, -1, -1, -1, count)
    struct.pack_into(">qiibIhiqqqhii", batch, 0, *fields)
    return with_crc(batch)


headers = st.lists(st.builds(Header, st.text(max_size=6), st.none() | st.binary(max_size=8)), max_size=3).map(
    tuple
)
new_records = st.builds(
    NewRecord,
    key=st.none() | st.binary(max_size=20),
    value=st.none() | st.binary(max_size=60),
    timestamp=st.integers(-1, 2**42),
    headers=headers,
)
record_lists = st.lists(new_records, min_size=1, max_size=6)
codecs = st.sampled_from(list(Compression))


@FUZZ
@given(st.binary(max_size=300), st.integers(0, 8))
def test_random_bytes(data: bytes, pos: int) -> None:
    exercise(data, pos)


@FUZZ
@given(
    body=st.binary(max_size=200),
    attributes=st.integers(0, 0xFF),
    count=st.integers(-2, 40),
    delta_shift=st.sampled_from([0, 0, 0, 1, -1, 1000]),
)
def test_random_body_behind_valid_header(body: bytes, attributes: int, count: int, delta_shift: int) -> None:
    exercise(plausible_batch(body, attributes, count, count - 1 + delta_shift))


@FUZZ
@given(
    records=record_lists,
    codec=codecs,
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=4),
    cut=st.none() | st.integers(0, 10_000),
    fix_crc=st.booleans(),
)
def test_damaged_valid_batches(
    records: list[NewRecord], codec: Compression, flips: list[tuple[int, int]], cut: int | None, fix_crc: bool
) -> None:
    batch = bytearray(build_batch(records, compression=codec))
    for position, mask in flips:
        batch[position % len(batch)] ^= mask
    if cut is not None:
        batch = batch[: cut % (len(batch) + 1)]
    if fix_crc:
        with_crc(batch)
    exercise(batch)
    exercise(b"\x00" * 5 + batch, 5)


@FUZZ
@given(
    records=record_lists,
    codec=codecs,
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=4),
    cut=st.none() | st.integers(0, 10_000),
    count_shift=st.sampled_from([0, 0, 1, -1]),
)
def test_damaged_records_behind_valid_compression(
    records: list[NewRecord],
    codec: Compression,
    flips: list[tuple[int, int]],
    cut: int | None,
    count_shift: int,
) -> None:
    section = bytearray(encode_records(records, records[0].timestamp))
    for position, mask in flips:
        section[position % len(section)] ^= mask
    if cut is not None:
        section = section[: cut % (len(section) + 1)]
    count = len(records) + count_shift
    exercise(plausible_batch(compress(codec, bytes(section)), int(codec), count, count - 1))


@FUZZ
@given(codec=codecs, data=st.binary(max_size=300))
def test_decompress_random_bytes(codec: Compression, data: bytes) -> None:
    attempt(lambda: decompress(codec, data, max_size=LIMIT))


@FUZZ
@given(records=record_lists, codec=codecs, cut=st.integers(0, 10_000))
def test_torn_tail_recovery(records: list[NewRecord], codec: Compression, cut: int) -> None:
    first = build_batch(records[:1])
    second = build_batch(records, compression=codec)
    log = first + second
    torn = log[: len(first) + cut % (len(second) + 1)]
    expected = len(log) if len(torn) == len(log) else len(first)
    assert valid_prefix_length(torn) == expected
    assert [pos for pos, _ in iter_batches(torn)] == ([0, len(first)] if expected == len(log) else [0])
