"""Inputs the decoder fuzz targets (``fuzz/``, target ``records``) found, kept as regression tests.

Each test gives the decoders the batch the fuzzer built (its CRC made right, as the target's flag
0x01 does) and checks that they refuse it with their documented error instead of crashing or
returning values the wire cannot carry.
"""

from __future__ import annotations

import base64
import struct

import pytest

from streamlog.protocol.records.batch import CorruptRecordError, parse_header, validate_batch
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.protocol.records.compression import Compression
from streamlog.protocol.records.crc import batch_crc
from streamlog.protocol.records.header import BASE_TIMESTAMP_OFFSET, CRC_OFFSET, HEADER_STRUCT, MAGIC
from streamlog.protocol.records.record import iter_records, records_section
from streamlog.storage.compaction import map_keys, scan_records

INT64_MAX = (1 << 63) - 1


def with_crc(batch: bytes | bytearray) -> bytes:
    out = bytearray(batch)
    struct.pack_into(">I", out, CRC_OFFSET, batch_crc(out, 0, len(out)))
    return bytes(out)


def uncompressed_batch(records_section: bytes, count: int = 1) -> bytes:
    """A v2 batch around a hand-written records section."""
    header = HEADER_STRUCT.pack(0, 49 + len(records_section), -1, MAGIC, 0, 0, count - 1, 1_000, 1_000,
                                -1, -1, -1, count)
    return with_crc(header + records_section)


# --- record timestamps beyond int64 ------------------------------------------------------------------

# The fuzzer's input (flag byte 0x01, then an lz4 batch of kafka-python's whose baseTimestamp it set to
# 2^63-1): the second record's timestampDelta of +1 made its timestamp 2^63.  iter_records returned it,
# and a ListOffsets answer carrying it would fail to encode (struct.error); validate_batch's statistics
# held it too.
FUZZED_INT64 = base64.b64decode(
    "AQAAAAAAAAAAAAAA4f////8CSl3yxQADAAAAAX//////////AAABok2fiqT/////////////AAAAAAAAAAIEIk0YcECtnQAAAPMJ8gQAAA"
    "AOa2V5LTAwMM4DYWlva2Fma2F8EgAgfDABAP8MfC1zdHJlYW1sb2ctaW50ZXJvcC1wYWRkaW5nGgCjhA4KbGFiZWwQ7wDwCwpjb2RlYwZs"
    "ejQGc2VxAjAGZHVwCmZpcnN0CgDzDQxzZWNvbmQGYmluCAD/AAAKZW1wdHkA8gQAAgI7AR0xOwEfMTsB/wKAAQplbXB0eQCww9SYAAAAAA=="
)


def built_timestamp_overflow() -> bytes:
    """The same fault in an uncompressed batch: records at +0 and +5 ms from a baseTimestamp of 2^63-3."""
    batch = bytearray(build_batch([NewRecord(b"k", b"v", 1000), NewRecord(b"k", b"v", 1005)]))
    struct.pack_into(">q", batch, BASE_TIMESTAMP_OFFSET, INT64_MAX - 2)
    return with_crc(batch)


@pytest.mark.parametrize("batch", [with_crc(FUZZED_INT64[1:]), built_timestamp_overflow()],
                         ids=["fuzzed-lz4", "built"])
def test_record_timestamp_beyond_int64_is_corrupt(batch: bytes) -> None:
    header = parse_header(batch)
    assert header.base_timestamp == INT64_MAX - (0 if header.compression == Compression.LZ4 else 2)
    with pytest.raises(CorruptRecordError, match="int64"):
        list(iter_records(batch))
    with pytest.raises(CorruptRecordError, match="int64"):
        validate_batch(batch, 0, header, require_keys=False)


def test_record_offset_beyond_int64_is_corrupt() -> None:
    batch = bytearray(build_batch([NewRecord(b"k", b"v", 1000), NewRecord(b"k", b"v", 1000)]))
    struct.pack_into(">q", batch, 0, INT64_MAX)  # baseOffset (outside the CRC)
    with pytest.raises(CorruptRecordError, match="int64"):
        list(iter_records(batch))


# --- record heads running past their record (the log cleaner's readers) ------------------------------

# Found by the records target once it read batches through the cleaner's scan_records: a key length
# that runs past the record made scan_records (and map_keys) index data[tail] beyond the records
# section: IndexError out of the cleaner.  The fuzzer's input was a 710-byte record set; these are the
# same fault, written small.  Record: length 6, attributes, timestampDelta 0, offsetDelta 0, then:
KEY_PAST_THE_RECORD = bytes([0x0C, 0x00, 0x00, 0x00, 0x78, 0x01, 0x00])  # keyLength 60 in a 6-byte body
# a null key, but a 10-byte timestampDelta takes the head past the record's 6 bytes and the section
HEAD_PAST_THE_RECORD = bytes([0x0C, 0x00, *([0x80] * 9), 0x01, 0x00, 0x01])


@pytest.mark.parametrize("section", [KEY_PAST_THE_RECORD, HEAD_PAST_THE_RECORD], ids=["key", "head"])
def test_record_head_running_past_its_record_is_corrupt(section: bytes) -> None:
    batch = uncompressed_batch(section)
    header = parse_header(batch)
    data, p, end = records_section(batch, 0, header)
    with pytest.raises(CorruptRecordError):
        scan_records(data, p, end, 1)
    with pytest.raises(CorruptRecordError):
        map_keys(data, p, end, 1, 0, {})
    with pytest.raises(CorruptRecordError):
        list(iter_records(batch))
    with pytest.raises(CorruptRecordError):
        validate_batch(batch, 0, header, require_keys=False)
