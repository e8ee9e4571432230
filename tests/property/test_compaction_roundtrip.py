"""Hypothesis: the cleaner's record scanner and batch rewriter against the records codec.

For random batches (any codec, keys and values of every varint width, headers, timestamps both
sides of the base): `scan_records` and `map_keys` agree with `iter_records`; `rebuild_batch` of
any subset, with or without a delete horizon, is a valid batch (CRC) whose records are exactly the
kept ones with unchanged offsets and timestamps, and whose header keeps what producer state needs;
`empty_batch` is a valid empty batch with the same offsets and sequences.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streamlog.protocol.records import (
    Compression,
    Header,
    NewRecord,
    TimestampType,
    build_batch,
    iter_records,
    parse_header,
    verify_crc,
)
from streamlog.protocol.records.record import records_section
from streamlog.storage import compaction

# Lengths of every varint width (1, 2 and 3 bytes); long ones are cheap repeated bytes.
keys = st.none() | st.binary(max_size=70) | st.integers(8_192, 8_300).map(lambda n: b"k" * n)
values = st.none() | st.binary(max_size=70) | st.integers(1, 80).map(lambda n: bytes(range(256)) * n)
header = st.builds(Header, st.text(max_size=5), st.none() | st.binary(max_size=9))
headers = st.lists(header, max_size=2).map(tuple)
records = st.lists(
    st.builds(NewRecord, keys, values, st.integers(0, 2**40), headers), min_size=1, max_size=12
)
codecs = st.sampled_from(list(Compression))


def build(recs: list[NewRecord], codec: Compression, log_append: bool, base: int) -> bytes:
    kind = TimestampType.LOG_APPEND_TIME if log_append else TimestampType.CREATE_TIME
    return build_batch(recs, base_offset=base, compression=codec, timestamp_type=kind, producer_id=77,
                       producer_epoch=3, base_sequence=1000, partition_leader_epoch=5)


@settings(max_examples=60, deadline=None)
@given(records, codecs, st.booleans(), st.integers(0, 2**40))
def test_scan_agrees_with_iter_records(recs: list[NewRecord], codec: Compression, log_append: bool,
                                       base: int) -> None:
    data = build(recs, codec, log_append, base)
    header = parse_header(data)
    section, p, end = records_section(data, 0, header)
    scanned = compaction.scan_records(section, p, end, header.records_count)
    decoded = list(iter_records(data))
    expected_records = [(r.offset, r.key, r.value is None) for r in decoded]
    assert [(base + s[5], s[6], s[7]) for s in scanned] == expected_records
    assert [header.base_timestamp + s[4] for s in scanned] == [r.timestamp for r in recs]
    offsets: dict[bytes, int] = {}
    compaction.map_keys(section, p, end, header.records_count, base, offsets)
    expected: dict[bytes, int] = {}
    for r in decoded:
        if r.key is not None:
            expected[r.key] = r.offset if r.value is not None else ~r.offset
    assert offsets == expected


@settings(max_examples=60, deadline=None)
@given(records, codecs, st.booleans(), st.data(), st.none() | st.integers(0, 2**41))
def test_rebuild_keeps_exactly_the_kept_records(recs: list[NewRecord], codec: Compression, log_append: bool,
                                               data: st.DataObject, horizon: int | None) -> None:
    batch = build(recs, codec, log_append, 1_000)
    header = parse_header(batch)
    section, p, end = records_section(batch, 0, header)
    scanned = compaction.scan_records(section, p, end, header.records_count)
    keep = data.draw(st.lists(st.booleans(), min_size=len(scanned), max_size=len(scanned)))
    if not any(keep):
        keep[0] = True
    kept = [s for s, k in zip(scanned, keep, strict=True) if k]
    out, max_ts = compaction.rebuild_batch(header, section, kept, horizon_ms=horizon)
    new = parse_header(out)
    assert verify_crc(out, 0, new) and new.size == len(out)
    assert (new.base_offset, new.last_offset_delta, new.producer_id, new.producer_epoch, new.base_sequence,
            new.partition_leader_epoch) == (1_000, len(recs) - 1, 77, 3, 1000, 5)
    assert new.compression == codec and new.timestamp_type == header.timestamp_type
    assert new.records_count == len(kept) and new.max_timestamp == max_ts
    assert new.has_delete_horizon == (horizon is not None)
    if horizon is not None:
        assert new.base_timestamp == horizon
    before = list(iter_records(batch))
    after = list(iter_records(out))
    wanted = [r for r, k in zip(before, keep, strict=True) if k]
    assert after == wanted  # offsets, timestamps, keys, values and headers unchanged
    if not log_append:
        assert max_ts == max(r.timestamp for r in wanted)


@given(records, codecs)
def test_empty_batch_keeps_offsets_and_sequences(recs: list[NewRecord], codec: Compression) -> None:
    header = parse_header(build(recs, codec, False, 500))
    out = compaction.empty_batch(header)
    new = parse_header(out)
    assert verify_crc(out, 0, new) and new.size == len(out) == 61
    assert new.records_count == 0 and list(iter_records(out)) == []
    assert (new.base_offset, new.last_offset, new.last_sequence, new.producer_id, new.producer_epoch) == (
        500, header.last_offset, header.last_sequence, 77, 3)
    assert new.compression == Compression.NONE and new.max_timestamp == header.max_timestamp
