"""The log cleaner on real partition logs (disk and memory): keys, tombstones, horizons, dirty
ratio, lags, transactions, producer state headers, offsets, grouping and the checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cleaner_support import (
    SMALL,
    append,
    as_tuples,
    batch,
    batches,
    compacted,
    latest,
    live,
    marker,
    records,
    write_updates,
)
from storage_support import OpenLog

from streamlog.protocol.records.compression import Compression
from streamlog.protocol.records.record import CONTROL_KEY_STRUCT
from streamlog.storage.cleaner import (
    CleanerCheckpoints,
    CleanerConfig,
    CleaningJob,
    assess,
    clean_log,
    is_compacted,
)
from streamlog.storage.cleaner_files import CHECKPOINT_FILE, read_checkpoint_file
from streamlog.storage.config import LogConfig
from streamlog.storage.log import PartitionLog
from streamlog.storage.memory import MemoryPartitionLog

NOW = 1_000_000
DAY = 86_400_000


def flushed(log: PartitionLog) -> PartitionLog:
    log.flush()
    return log


def test_keeps_latest_record_per_key_and_offsets(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 2_000, 23)
    log = flushed(log)
    before = records(log)
    segments_before = len(log.segments)
    active_base = log.segments[-1].base_offset
    store = CleanerCheckpoints()
    result = clean_log(log, CleanerConfig(), store, NOW)
    assert result is not None
    assert result.checkpoint.first_dirty_offset == active_base
    after = records(log)
    assert as_tuples(after) == compacted(before, active_base)
    assert latest(after) == latest(before)
    assert len(after) < len(before) // 10
    assert result.records_read == active_base
    assert result.records_kept == len(compacted(before, active_base)) - (len(before) - active_base)
    assert len(log.segments) <= segments_before
    assert log.log_start_offset == 0 and log.log_end_offset == 2_000
    # Every offset still reads: the batch returned holds it or is the next one after a gap.
    for offset in range(0, 2_000, 7):
        got = log.read(offset, 1)
        assert got.first_offset >= offset - 4 and got.next_offset > offset
    # Nothing more to do until something new is written.
    assert clean_log(log, CleanerConfig(), store, NOW) is None


def test_not_due_after_cleaning_then_due_again(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 1_000, 10)
    flushed(log)
    store = CleanerCheckpoints()
    cfg = CleanerConfig()
    assert assess(log, cfg, store.get(log), NOW).reason == "dirty ratio"
    assert clean_log(log, cfg, store, NOW) is not None
    found = assess(log, cfg, store.get(log), NOW)
    assert found.reason is None and found.dirty_bytes == 0
    assert clean_log(log, cfg, store, NOW) is None
    write_updates(log, 1_000, 10, start=1_000)
    flushed(log)
    again = assess(log, cfg, store.get(log), NOW)
    assert again.reason == "dirty ratio" and again.ratio > 0.5
    result = clean_log(log, cfg, store, NOW)
    assert result is not None
    assert live(records(log)) == {f"k{i}".encode(): f"v{1_990 + i}".encode() for i in range(10)}


def test_min_cleanable_dirty_ratio_is_honoured(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 1_500, 300)  # mostly distinct keys: cleaning keeps most
    flushed(log)
    store = CleanerCheckpoints()
    assert clean_log(log, CleanerConfig(), store, NOW) is not None
    write_updates(log, 200, 300, start=1_500)  # a little dirt on a big clean head
    flushed(log)
    found = assess(log, CleanerConfig(), store.get(log), NOW)
    assert 0 < found.ratio < 0.5
    assert clean_log(log, CleanerConfig(min_cleanable_dirty_ratio=0.5), store, NOW) is None
    assert clean_log(log, CleanerConfig(min_cleanable_dirty_ratio=found.ratio), store, NOW) is not None


def test_min_compaction_lag_keeps_young_segments(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 1_000, 10)  # timestamps 1000..1999
    flushed(log)
    before = records(log)
    cfg = CleanerConfig(min_compaction_lag_ms=10_000)
    store = CleanerCheckpoints()
    assert assess(log, cfg, store.get(log), 5_000).dirty_bytes == 0  # everything younger than the lag
    assert clean_log(log, cfg, store, 5_000) is None
    # At 11_500 only segments whose newest record is older than 1_500 qualify.
    young = [s for s in log.segments[:-1] if s.max_timestamp > 11_500 - 10_000]
    result = clean_log(log, cfg, store, 11_500)
    assert result is not None
    upto = result.checkpoint.first_dirty_offset
    assert upto == young[0].base_offset
    assert as_tuples(records(log)) == compacted(before, upto)


def test_max_compaction_lag_forces_cleaning(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 1_500, 500)
    flushed(log)
    store = CleanerCheckpoints()
    assert clean_log(log, CleanerConfig(), store, NOW) is not None
    write_updates(log, 100, 500, start=1_500)  # timestamps ~2500..2600
    flushed(log)
    lazy = CleanerConfig(min_cleanable_dirty_ratio=0.99)
    assert assess(log, lazy, store.get(log), 3_000).reason is None
    forced = CleanerConfig(min_cleanable_dirty_ratio=0.99, max_compaction_lag_ms=1_000)
    assert assess(log, forced, store.get(log), 3_000).reason is None
    assert assess(log, forced, store.get(log), 5_000).reason == "max compaction lag"
    assert clean_log(log, forced, store, 5_000) is not None


def test_tombstones_stay_until_delete_horizon(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 500, 20)
    doomed = [f"k{i}".encode() for i in range(0, 20, 3)]
    for key in doomed:
        append(log, batch([(key, None)], 5_000))
    write_updates(log, 300, 20, start=10_000)  # pushes the tombstones into closed segments...
    for key in doomed:  # ...and deletes the same keys again, later
        append(log, batch([(key, None)], 20_000))
    for i in range(60):  # other keys: the tombstones stay the latest records of theirs
        append(log, batch([(f"other{i % 5}".encode(), b"x" * 20)], 30_000 + i))
    flushed(log)
    before = records(log)
    store = CleanerCheckpoints()
    cfg = CleanerConfig(delete_retention_ms=60_000)
    first = clean_log(log, cfg, store, NOW)
    assert first is not None
    after = records(log)
    upto = first.checkpoint.first_dirty_offset
    assert as_tuples(after) == compacted(before, upto)
    tombstones = [r for r in after if r.value is None]
    assert {r.key for r in tombstones} == set(doomed)
    original = {r.offset: r.timestamp for r in before}
    assert all(r.timestamp == original[r.offset] for r in after)  # horizon stamping keeps record times
    stamped = [h for h, recs in batches(log) if any(r.value is None for r in recs)]
    assert stamped and all(h.has_delete_horizon and h.base_timestamp == NOW + 60_000 for h in stamped)
    assert first.checkpoint.next_horizon_ms == NOW + 60_000
    # Not due before the horizon (nothing dirty), due at it.
    assert assess(log, cfg, store.get(log), NOW + 59_999).reason is None
    assert assess(log, cfg, store.get(log), NOW + 60_000).reason == "delete horizon"
    second = clean_log(log, cfg, store, NOW + 60_000)
    assert second is not None and second.checkpoint.next_horizon_ms == -1
    final = records(log)
    assert all(r.value is not None for r in final)
    assert live(final) == live(before)
    assert not set(doomed) & {r.key for r in final}


def test_keyless_records_are_removed(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    for i in range(300):
        append(log, batch([(None, f"nokey{i}".encode()), (b"k", f"v{i}".encode())]))
    flushed(log)
    assert clean_log(log, CleanerConfig(), CleanerCheckpoints(), NOW) is not None
    cleaned = [r for r in records(log) if r.offset < log.segments[-1].base_offset]
    assert cleaned and all(r.key == b"k" for r in cleaned)


@pytest.mark.parametrize("codec", [Compression.GZIP, Compression.ZSTD, Compression.LZ4, Compression.SNAPPY])
def test_compressed_batches_are_recompressed(open_log: OpenLog, codec: Compression) -> None:
    log = open_log(SMALL)
    for i in range(200):
        append(log, batch([(f"k{(i * 4 + j) % 9}".encode(), f"value-{i}-{j}".encode() * 5) for j in range(4)],
                          1_000 + i, compression=codec))
    flushed(log)
    before = records(log)
    result = clean_log(log, CleanerConfig(), CleanerCheckpoints(), NOW)
    assert result is not None
    headers = [h for h, _ in batches(log)]
    assert all(h.compression == codec for h in headers)
    assert as_tuples(records(log)) == compacted(before, result.checkpoint.first_dirty_offset)


def test_transactions_aborted_data_removed_markers_kept(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    control_key = CONTROL_KEY_STRUCT.pack(0, 0)
    txn = {"epoch": 0, "sequence": 0, "transactional": True}
    aborted = append(log, batch([(b"a", b"aborted-a"), (b"b", b"aborted-b")], producer_id=1, **txn))  # type: ignore[arg-type]
    committed = append(log, batch([(b"c", b"committed-c")], producer_id=2, **txn))  # type: ignore[arg-type]
    abort_marker = append(log, marker(1, commit=False))
    commit_marker = append(log, marker(2, commit=True))
    append(log, batch([(control_key, b"data with a control-looking key")]))
    write_updates(log, 400, 5)  # k0..k4, then the transactions sit in closed segments
    flushed(log)
    cfg = CleanerConfig(delete_retention_ms=1_000, producer_expiration_ms=DAY)
    store = CleanerCheckpoints()
    assert clean_log(log, cfg, store, NOW) is not None
    by_offset = {r.offset: r for r in records(log)}
    assert aborted not in by_offset and aborted + 1 not in by_offset  # aborted data gone
    assert by_offset[committed].value == b"committed-c"
    assert by_offset[commit_marker].key == CONTROL_KEY_STRUCT.pack(0, 1)  # never compacted as keys
    assert by_offset[abort_marker].key == control_key
    assert by_offset[commit_marker + 1].value == b"data with a control-looking key"
    # The abort marker's transaction is empty now, so it got a delete horizon; once that has passed
    # it would go, but it is producer 1's last batch, so it stays until the producer expires.
    headers = {h.base_offset: h for h, _ in batches(log)}
    assert headers[abort_marker].is_control and headers[abort_marker].has_delete_horizon
    assert headers[abort_marker].base_timestamp == NOW + 1_000
    assert headers[commit_marker].is_control and not headers[commit_marker].has_delete_horizon
    assert clean_log(log, cfg, store, NOW + 2_000) is not None  # due: the horizon passed
    assert abort_marker in {h.base_offset for h, _ in batches(log)}
    clean_log(log, cfg, store, NOW + 2 * DAY, force=True)
    headers = {h.base_offset: h for h, _ in batches(log)}
    assert abort_marker not in headers  # producer expired, horizon passed, transaction empty
    assert commit_marker in headers  # its transaction still has data
    assert {r.key for r in records(log)} >= {b"c", control_key, b"k0"}


def test_undecided_transaction_stops_cleaning(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 500, 5)
    in_flight = batch([(b"k1", b"in-flight")], producer_id=9, epoch=0, sequence=0, transactional=True)
    open_txn = append(log, in_flight)
    write_updates(log, 500, 5, start=500)
    flushed(log)
    before = records(log)
    result = clean_log(log, CleanerConfig(), CleanerCheckpoints(), NOW)
    assert result is not None
    upto = result.checkpoint.first_dirty_offset
    assert 0 < upto <= open_txn
    assert as_tuples(records(log)) == compacted(before, upto)
    # Once the marker is in a closed segment, the transaction is decided and cleaning goes on.
    append(log, marker(9, commit=True))
    write_updates(log, 300, 5, start=1_000)
    flushed(log)
    again = clean_log(log, CleanerConfig(), CleanerCheckpoints(), NOW, force=True)
    assert again is not None and again.checkpoint.first_dirty_offset > open_txn


def test_stable_offset_bounds_cleaning(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 1_000, 5)
    flushed(log)
    result = clean_log(log, CleanerConfig(), CleanerCheckpoints(), NOW, stable_offset=400)
    assert result is not None and result.checkpoint.first_dirty_offset <= 400
    later = [r.offset for r in records(log) if r.offset >= result.checkpoint.first_dirty_offset]
    assert later == list(range(result.checkpoint.first_dirty_offset, 1_000))


def test_last_batch_of_producer_kept_as_empty_header(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    idem = append(log, batch([(b"x", b"old"), (b"y", b"old")], producer_id=7, epoch=3, sequence=41))
    write_updates(log, 400, 2)  # k0, k1 ...
    append(log, batch([(b"x", b"new"), (b"y", b"new")]))
    write_updates(log, 300, 2, start=400)
    flushed(log)
    store = CleanerCheckpoints()
    assert clean_log(log, CleanerConfig(), store, NOW) is not None
    headers = {h.base_offset: (h, recs) for h, recs in batches(log)}
    header, recs = headers[idem]
    assert recs == [] and header.records_count == 0
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 3, 41)
    assert header.last_offset == idem + 1 and header.last_sequence == 42
    # With the producer state given, only its real last batch counts.
    log2_store = CleanerCheckpoints()
    write_updates(log, 200, 2, start=700)
    flushed(log)
    assert clean_log(log, CleanerConfig(), log2_store, NOW, producer_last_offsets={7: 123_456}, force=True)
    assert idem not in {h.base_offset for h, _ in batches(log)}


def test_empty_header_dropped_once_producer_writes_again(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    first = append(log, batch([(b"x", b"1")], producer_id=5, epoch=0, sequence=0))
    write_updates(log, 300, 3)
    append(log, batch([(b"x", b"2")]))
    write_updates(log, 300, 3, start=300)
    flushed(log)
    store = CleanerCheckpoints()
    clean_log(log, CleanerConfig(), store, NOW)
    assert first in {h.base_offset for h, _ in batches(log)}
    second = append(log, batch([(b"z", b"3")], producer_id=5, epoch=0, sequence=1))
    write_updates(log, 300, 3, start=600)
    flushed(log)
    clean_log(log, CleanerConfig(), store, NOW, force=True)
    offsets = {h.base_offset for h, _ in batches(log)}
    assert first not in offsets and second in offsets


def test_small_segments_are_merged(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 3_000, 4)
    flushed(log)
    store = CleanerCheckpoints()
    clean_log(log, CleanerConfig(), store, NOW)
    write_updates(log, 400, 4, start=3_000)
    flushed(log)
    before = len(log.segments)
    clean_log(log, CleanerConfig(), store, NOW)
    assert len(log.segments) < before / 3
    assert live(records(log)) == {f"k{i}".encode(): f"v{3_396 + i}".encode() for i in range(4)}


def test_appends_during_cleaning_survive(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 1_000, 10)
    flushed(log)
    before = records(log)
    store = CleanerCheckpoints()
    job = CleaningJob(log, CleanerConfig(), store.get(log), NOW)
    assert job.build()
    write_updates(log, 600, 10, start=1_000)  # rolls segments while the job is built
    assert job.swap()
    result = job.finish()
    got = as_tuples(records(log))
    upto = result.checkpoint.first_dirty_offset
    assert got[: len(got) - 600] == compacted(before, upto)
    assert [t[0] for t in got[len(got) - 600 :]] == list(range(1_000, 1_600))


def test_swap_refused_when_segments_were_deleted(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 1_000, 10)
    flushed(log)
    before = as_tuples(records(log))
    job = CleaningJob(log, CleanerConfig(), CleanerCheckpoints().get(log), NOW)
    assert job.build()
    log.delete_records_before(300)  # deletes segments the job read
    assert not job.swap()
    job.abort()
    assert as_tuples(records(log)) == [t for t in before if t[0] >= 300]
    if not isinstance(log, MemoryPartitionLog):
        assert not [n for n in os.listdir(log.name) if n.endswith(".cleaned") or n.startswith("cleaner-swap")]


def test_stop_request_abandons_the_job(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 1_000, 10)
    flushed(log)
    before = as_tuples(records(log))
    job = CleaningJob(log, CleanerConfig(), CleanerCheckpoints().get(log), NOW, should_stop=lambda: True)
    assert not job.build()
    assert as_tuples(records(log)) == before


def test_checkpoint_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log = PartitionLog.open(path, SMALL, now_ms=0)
    write_updates(log, 1_000, 10)
    log.flush()
    result = clean_log(log, CleanerConfig(), CleanerCheckpoints(), NOW)
    assert result is not None
    content = as_tuples(records(log))
    log.close()
    assert read_checkpoint_file(str(path)) == result.checkpoint
    assert (path / CHECKPOINT_FILE).exists()
    again = PartitionLog.open(path, SMALL, now_ms=0)
    try:
        assert again.recovery_report.clean_shutdown and again.recovery_report.segments_rebuilt == ()
        assert as_tuples(records(again)) == content
        assert CleanerCheckpoints().get(again) == result.checkpoint
        assert again.log_start_offset == 0
    finally:
        again.close()


def test_every_key_deleted_keeps_log_start(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log = PartitionLog.open(path, LogConfig(segment_bytes=500), now_ms=0)
    for i in range(40):
        append(log, batch([(f"k{i}".encode(), b"v")]))
    for i in range(40):
        append(log, batch([(f"k{i}".encode(), None)]))
    for _ in range(10):  # pushes every tombstone out of the active segment
        append(log, batch([(b"other", b"v")]))
    log.flush()
    store = CleanerCheckpoints()
    cfg = CleanerConfig(delete_retention_ms=0)
    clean_log(log, cfg, store, NOW)
    clean_log(log, cfg, store, NOW + 1)  # due: the horizon passed
    assert {r.key for r in records(log)} == {b"other"}
    assert records(log)[0].offset > 80 - 6
    log.close()
    again = PartitionLog.open(path, LogConfig(segment_bytes=500), now_ms=0)
    try:
        assert again.log_start_offset == 0 and again.log_end_offset == 90
        assert {r.key for r in records(again)} == {b"other"}
    finally:
        again.close()


def test_is_compacted_and_config() -> None:
    assert is_compacted({"cleanup.policy": "compact"})
    assert is_compacted({"cleanup.policy": "delete,compact"})
    assert not is_compacted({"cleanup.policy": "delete"})
    cfg = CleanerConfig.from_topic_config(
        {"delete.retention.ms": 5, "min.cleanable.dirty.ratio": 0.1, "min.compaction.lag.ms": 7,
         "max.compaction.lag.ms": 9}, producer_expiration_ms=11, max_map_entries=13,
    )
    assert cfg == CleanerConfig(5, 0.1, 7, 9, 11, 13)


def test_map_limit_splits_cleaning(open_log: OpenLog) -> None:
    log = open_log(SMALL)
    write_updates(log, 3_000, 1_000)
    flushed(log)
    before = records(log)
    store = CleanerCheckpoints()
    cfg = CleanerConfig(max_map_entries=100)
    first = clean_log(log, cfg, store, NOW)
    assert first is not None and first.keys >= 100
    assert 0 < first.checkpoint.first_dirty_offset < log.segments[-1].base_offset
    while clean_log(log, cfg, store, NOW) is not None:
        pass
    assert live(records(log)) == live(before)


def test_last_batch_before_active_segment_is_kept(open_log: OpenLog) -> None:
    log = open_log(LogConfig(segment_bytes=400))
    for i in range(20):
        append(log, batch([(f"k{i}".encode(), b"v" * 30)]))
    early = append(log, batch([(b"k0", None)]))
    for i in range(1, 20):
        append(log, batch([(f"k{i}".encode(), None)]))
    append(log, batch([(b"late", b"v")]))
    flushed(log)
    closed = log.segments[:-1]
    tail = closed[-1].next_offset - 1
    assert tail > early
    store = CleanerCheckpoints()
    cfg = CleanerConfig(delete_retention_ms=0)
    clean_log(log, cfg, store, NOW)
    clean_log(log, cfg, store, NOW + 1)  # horizon passed: the tombstones go
    headers = {h.base_offset: (h, recs) for h, recs in batches(log)}
    assert early not in headers
    header, recs = headers[tail]
    assert recs == [] and header.records_count == 0 and header.last_offset == tail
    assert log.read(tail - 3, 1 << 20).first_offset == tail  # a read in the gap lands on it


def test_a_cleaned_segment_keeps_every_index_entry_and_the_old_index_is_untouched(tmp_path: Path) -> None:
    # An index entry for every batch, and enough batches for several 4 KiB index blocks: blocks
    # written while the cleaned copy is built must not land in the old segment's index file.
    config = LogConfig(segment_bytes=100_000, index_interval_bytes=1)
    path = tmp_path / "t-0"
    log = PartitionLog.open(path, config, now_ms=0)
    try:
        for i in range(1_800):
            append(log, batch([(f"k{i % 700}".encode(), b"v")]))
        log.flush()
        first = log.closed_segments()[0]
        index_path = path / "00000000000000000000.index"
        old_index = index_path.read_bytes()
        job = CleaningJob(log, CleanerConfig(), CleanerCheckpoints().get(log), NOW)
        assert job.build()
        assert index_path.read_bytes() == old_index, "the build wrote into the old segment's index"
        assert job.swap()
        job.finish()
        cleaned = log.closed_segments()[0]
        assert cleaned is not first and len(cleaned.offset_index) > 4096 // 8
        assert os.path.getsize(index_path) == 8 * len(cleaned.offset_index), "every entry reached the file"
    finally:
        log.close()
    again = PartitionLog.open(path, config, now_ms=0)
    try:
        assert again.recovery_report.segments_rebuilt == ()
        assert len(again.closed_segments()[0].offset_index) == len(cleaned.offset_index)
    finally:
        again.close()
