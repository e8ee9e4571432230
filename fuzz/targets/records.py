"""Target ``records``: a records section (one or more v2 record batches) through every reader.

Input: ``[flags][records...]``, ``records`` as in a Produce request's ``records`` field or a Fetch
response's (several batches back to back, possibly a torn tail).  Flags: bit 0 rewrite each batch's
CRC before reading, so mutated batches get past the CRC check; bit 1 ``require_keys`` (compacted
topic); bit 2 ``max_batch_bytes=512``; bit 3 read from a ``memoryview`` of a ``bytearray`` (the
produce path) instead of ``bytes``; bit 4 a decompression bound of 4 KiB instead of 1 MiB.

Readers: ``batch_spans`` (the append path's header walk), ``iter_batches`` and ``parse_header``,
``valid_prefix_length`` with and without CRCs (torn-tail detection in recovery), ``verify_crc``,
``validate_batch`` (produce validation, decompression included), ``iter_records`` (lazy records:
varints, keys, values, headers), ``decode_control_record``, the log cleaner's readers of stored
batches ``scan_records`` and ``map_keys`` (record heads only); and, on a batch that validates, the
in-place edits ``assign_offsets`` and ``set_log_append_time``.

Documented refusals: ``CorruptRecordError`` and ``InvalidRecordError`` (``RecordTooLargeError`` is
one) from ``batch_spans``, ``iter_batches``, ``parse_header``, ``validate_batch``, ``iter_records``,
``scan_records`` and ``map_keys``; ``valid_prefix_length``, ``verify_crc`` and
``decode_control_record`` refuse nothing by raising.

Invariants: ``valid_prefix_length(check_crc=False)`` ends where the batches ``iter_batches`` yields
end, and with CRCs where the first CRC mismatch among them is; when ``batch_spans`` accepts the
section, the batches cover it exactly and ``iter_batches`` yields the same spans (unless a codec is
unknown); ``parse_header`` agrees with ``iter_batches``.  A batch that ``validate_batch`` accepts
has a good CRC, iterates to exactly ``records_count`` records at offsets base..base+n-1, with keys
where keys are required, and (CreateTime) the smallest and largest record timestamps are the
statistics' ones; after ``assign_offsets`` and ``set_log_append_time`` it still validates and every
record carries the new offsets and the append time.  Conversely a batch that ``iter_records``
reads whole must validate unless it breaks a rule only ``validate_batch`` checks (count and last
offset delta, producer id without sequence, CRC, size, offset deltas, required keys).  Records
carry int64 offsets and timestamps.  ``scan_records`` and ``map_keys`` refuse the same batches; on a
batch that ``iter_records`` reads whole, ``scan_records`` gives the same offset deltas, keys and
tombstones.
"""

from __future__ import annotations

import struct

from fuzz.common import Finding, check, describe
from streamlog.protocol.records.batch import (
    BatchHeader,
    CorruptRecordError,
    InvalidRecordError,
    RecordTooLargeError,
    assign_offsets,
    iter_batches,
    parse_header,
    set_log_append_time,
    valid_prefix_length,
    validate_batch,
    verify_crc,
)
from streamlog.protocol.records.crc import batch_crc
from streamlog.protocol.records.header import (
    ATTR_CONTROL,
    ATTR_LOG_APPEND_TIME,
    CRC_OFFSET,
    HEADER_SIZE,
    LOG_OVERHEAD,
    batch_spans,
)
from streamlog.protocol.records.record import Record, decode_control_record, iter_records, records_section
from streamlog.storage.compaction import Scanned, map_keys, scan_records

Buffer = bytes | bytearray | memoryview

_LENGTH = struct.Struct(">i")
_CRC = struct.Struct(">I")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_APPEND_TIME = 1_700_000_000_123
_NEW_BASE = 1_000_000


def fix_crcs(raw: bytearray) -> None:
    """Rewrite the CRC of every batch whose length field keeps it inside ``raw``."""
    pos = 0
    while len(raw) - pos >= HEADER_SIZE:
        (length,) = _LENGTH.unpack_from(raw, pos + 8)
        size = length + LOG_OVERHEAD
        if size < HEADER_SIZE or pos + size > len(raw):
            return
        _CRC.pack_into(raw, pos + CRC_OFFSET, batch_crc(raw, pos, size))
        pos += size


def _records(buf: Buffer, pos: int, max_decompressed: int) -> tuple[list[Record] | None, Exception | None]:
    try:
        return list(iter_records(buf, pos, max_decompressed=max_decompressed)), None
    except (CorruptRecordError, InvalidRecordError) as exc:
        return None, exc


def _check_validated(buf: Buffer, pos: int, header: BatchHeader, records: list[Record] | None,
                     failure: Exception | None, require_keys: bool, max_decompressed: int,
                     stats_min: int, stats_max: int, stats_delta: int) -> None:
    what = f"batch at {pos} ({describe(header)})"
    count = header.records_count
    check(verify_crc(buf, pos, header), f"{what}: validated with a bad CRC")
    # validate_batch does not look at the base offset (the broker overwrites it); iter_records
    # refuses offsets past int64.
    if header.base_offset + count - 1 <= _INT64_MAX:
        if records is None:
            raise Finding(f"{what}: validate_batch accepts it, iter_records refuses it: {failure!r}")
        check(len(records) == count, f"{what}: validated, but iterates to {len(records)} records")
        check([r.offset for r in records] == [header.base_offset + i for i in range(count)],
              f"{what}: validated, but record offsets are {[r.offset for r in records][:10]}")
        if require_keys:
            check(all(r.key is not None for r in records), f"{what}: validated without keys")
        if not header.attributes & ATTR_LOG_APPEND_TIME:
            stamps = [r.timestamp for r in records]
            hi = max(stamps)
            check((stats_min, stats_max, stats_delta) == (min(stamps), hi, stamps.index(hi)),
                  f"{what}: statistics {(stats_min, stats_max, stats_delta)} but record timestamps "
                  f"{stamps[:10]}")
    # The produce path's in-place edits keep the batch valid.
    copy = bytearray(buf[pos : pos + header.size])
    assign_offsets(copy, 0, _NEW_BASE, 7)
    set_log_append_time(copy, 0, _APPEND_TIME)
    edited = parse_header(copy, 0)
    check(verify_crc(copy, 0, edited), f"{what}: the CRC is wrong after set_log_append_time")
    try:
        validate_batch(copy, 0, edited, require_keys=require_keys, allow_control=True,
                       max_decompressed=max_decompressed)
    except (CorruptRecordError, InvalidRecordError) as exc:
        raise Finding(f"{what}: no longer validates after the in-place edits: {exc!r}") from None
    again, failure = _records(copy, 0, max_decompressed)
    check(again is not None and [(r.offset, r.timestamp) for r in again]
          == [(_NEW_BASE + i, _APPEND_TIME) for i in range(count)],
          f"{what}: after the in-place edits the records read {failure!r}")


def _check_cleaner(buf: Buffer, pos: int, header: BatchHeader, records: list[Record] | None,
                   max_decompressed: int) -> None:
    """The log cleaner's readers of stored batches: they read only the records' heads."""
    try:
        data, p, end = records_section(buf, pos, header, max_decompressed)
    except (CorruptRecordError, InvalidRecordError):
        return
    count = header.records_count
    try:
        scanned: list[Scanned] | None = scan_records(data, p, end, count)
    except (CorruptRecordError, InvalidRecordError):
        scanned = None
    offsets: dict[bytes, int] = {}
    try:
        map_keys(data, p, end, count, header.base_offset, offsets)
        mapped = True
    except (CorruptRecordError, InvalidRecordError):
        mapped = False
    what = f"batch at {pos} ({describe(header)})"
    check(mapped == (scanned is not None), f"{what}: scan_records and map_keys disagree on refusing it")
    if records is not None:
        check(scanned is not None, f"{what}: iter_records reads it, scan_records refuses it")
        assert scanned is not None
        mine = [(s[5], s[6], s[7]) for s in scanned]
        theirs = [(r.offset - header.base_offset, r.key, r.value is None) for r in records]
        check(mine == theirs, f"{what}: scan_records reads {mine[:5]}, iter_records {theirs[:5]}")


def _check_batch(buf: Buffer, pos: int, header: BatchHeader, require_keys: bool, max_batch_bytes: int | None,
                 max_decompressed: int) -> None:
    check(parse_header(buf, pos) == header, f"parse_header at {pos} disagrees with iter_batches")
    refused: Exception | None = None
    stats = None
    try:
        stats = validate_batch(buf, pos, header, require_keys=require_keys, max_batch_bytes=max_batch_bytes,
                               allow_control=True, max_decompressed=max_decompressed)
    except (CorruptRecordError, InvalidRecordError) as exc:
        refused = exc
    records, failure = _records(buf, pos, max_decompressed)
    _check_cleaner(buf, pos, header, records, max_decompressed)
    for record in records or ():
        check(_INT64_MIN <= record.offset <= _INT64_MAX and _INT64_MIN <= record.timestamp <= _INT64_MAX,
              f"batch at {pos}: record offset {record.offset} or timestamp {record.timestamp} "
              "is not an int64")
        if header.attributes & ATTR_CONTROL:
            decode_control_record(record)
    if stats is not None:
        _check_validated(buf, pos, header, records, failure, require_keys, max_decompressed,
                         stats.min_timestamp, stats.max_timestamp, stats.max_timestamp_offset_delta)
        return
    if records is None or isinstance(refused, RecordTooLargeError):
        return
    count = header.records_count
    rule_broken = (
        count <= 0
        or header.last_offset_delta != count - 1
        or (header.producer_id >= 0 and header.base_sequence < 0 and not header.attributes & ATTR_CONTROL)
        or not verify_crc(buf, pos, header)
        or [r.offset for r in records] != [header.base_offset + i for i in range(count)]
        or (require_keys and any(r.key is None for r in records))
    )
    check(rule_broken, f"batch at {pos} ({describe(header)}): iter_records reads {count} records, "
                       f"validate_batch refuses it: {refused!r}")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    flags = data[0]
    raw = bytearray(data[1:])
    if flags & 0x01:
        fix_crcs(raw)
    buf: Buffer = memoryview(raw) if flags & 0x08 else bytes(raw)
    require_keys = bool(flags & 0x02)
    max_batch_bytes = 512 if flags & 0x04 else None
    max_decompressed = 4096 if flags & 0x10 else 1 << 20

    try:
        spans: list[tuple[int, int, int, int]] | None = batch_spans(buf)
    except CorruptRecordError:
        spans = None
    walked: list[tuple[int, BatchHeader]] = []
    unknown_codec = False
    try:
        for pos, header in iter_batches(buf):
            walked.append((pos, header))
    except CorruptRecordError:
        unknown_codec = True
    end = walked[-1][0] + walked[-1][1].size if walked else 0
    plain = valid_prefix_length(buf, check_crc=False)
    check(plain == end, f"valid_prefix_length(check_crc=False) = {plain}, but iter_batches ends at {end}")
    crc_end = 0
    for pos, header in walked:
        if not verify_crc(buf, pos, header):
            break
        crc_end = pos + header.size
    checked = valid_prefix_length(buf)
    check(checked == crc_end,
          f"valid_prefix_length() = {checked}, but the CRC-valid batches end at {crc_end}")
    if spans is not None:
        check(sum(size for _pos, size, _delta, _ts in spans) == len(buf),
              "batch_spans does not cover the buffer")
        if not unknown_codec:
            mine = [(pos, h.size, h.last_offset_delta, h.max_timestamp) for pos, h in walked]
            check(mine == spans, f"batch_spans gives {spans[:5]}, iter_batches {mine[:5]}")
    for pos, header in walked:
        _check_batch(buf, pos, header, require_keys, max_batch_bytes, max_decompressed)
