"""flush(): what it claims is durable, and running it on a thread while appends continue."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from storage_support import make_batch

from streamlog.storage.checkpoint import RecoveryCheckpoint
from streamlog.storage.config import LogConfig
from streamlog.storage.log import PartitionLog
from streamlog.storage.segment import FileStore

SMALL = LogConfig(segment_bytes=1_000, index_interval_bytes=100)


def test_flush_never_claims_an_append_made_during_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log_ = PartitionLog.open(tmp_path, SMALL, now_ms=0)
    for _ in range(10):
        log_.append(make_batch(3), now_ms=0)
    real_sync = FileStore.sync
    raced: list[int] = []

    def sync_while_appending(self: FileStore) -> None:
        if not raced:  # an append lands between the flush's snapshot and its fsync
            raced.append(log_.append(make_batch(3), now_ms=0).first_offset)
        real_sync(self)

    monkeypatch.setattr(FileStore, "sync", sync_while_appending)
    assert log_.flush() == 30
    assert raced == [30] and log_.log_end_offset == 33
    assert log_.flushed_offset == 30 and log_.flush_needed()
    assert RecoveryCheckpoint(str(tmp_path)).read().offset == 30  # type: ignore[union-attr]
    assert log_.flush() == 33
    assert not log_.flush_needed()
    log_.close()


def test_flush_syncs_data_of_rolled_segments_and_their_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_ = PartitionLog.open(tmp_path, SMALL, now_ms=0)
    synced: list[str] = []
    monkeypatch.setattr(FileStore, "sync", lambda self: synced.append(self.path))
    for _ in range(20):
        log_.append(make_batch(3), now_ms=0)
    assert len(log_.segments) == 3
    log_.flush()
    assert [p.rsplit("/", 1)[1] for p in synced] == [f"{s.base_offset:020d}.log" for s in log_.segments]
    synced.clear()
    log_.flush()
    assert synced == []  # nothing new
    log_.close()


def test_flush_on_a_thread_while_appending(tmp_path: Path) -> None:
    log_ = PartitionLog.open(tmp_path, SMALL, now_ms=0)
    stop = threading.Event()
    results: list[tuple[int, int]] = []  # (flushed, log end offset seen right after)
    errors: list[BaseException] = []

    def flusher() -> None:
        try:
            while not stop.is_set():
                flushed = log_.flush()
                results.append((flushed, log_.log_end_offset))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=flusher)
    thread.start()
    try:
        for i in range(400):
            log_.append(make_batch(3, i), now_ms=0)
            if i % 50 == 49:
                log_.delete_oldest_segments(2)  # retention running meanwhile
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert len(results) > 1
    flushed = [f for f, _ in results]
    assert flushed == sorted(flushed)
    assert all(f <= end for f, end in results)
    assert log_.flush() == log_.log_end_offset == 1_200
    end = log_.log_end_offset
    log_._release()  # crash: what was flushed must come back
    again = PartitionLog.open(tmp_path, SMALL, now_ms=0)
    # The recovery point is rewritten on a new segment or every few MiB, not on every flush, so it
    # may lag the last flushes within the last segment (recovery then re-checks a little more).
    point = again.recovery_report.recovery_point
    assert point is not None and again.segments[-1].base_offset <= point <= end
    assert again.recovery_report.truncated_bytes == 0
    assert again.log_end_offset == end
    again.close()
