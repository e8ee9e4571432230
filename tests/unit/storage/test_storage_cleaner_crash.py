"""Crashing the log cleaner at each step of a cleaning: reopening must give a correct log, the old
one before the commit point and the cleaned one after it, with no cleaner files left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cleaner_support import SMALL, append, as_tuples, batch, records, write_updates

from streamlog.storage.cleaner import CleanerCheckpoints, CleanerConfig, CleanResult, clean_log
from streamlog.storage.cleaner_files import (
    MANIFEST_FILE,
    LogDir,
    cleaned_name,
    encode_manifest,
    recover_swaps,
    write_manifest,
)
from streamlog.storage.log import PartitionLog

NOW = 1_000_000
STEPS = ["written", "committed", "swap:deleted", "swap:renamed", "swapped", "finishing"]
COMMITTED = STEPS[1:]


class Crash(Exception):
    pass


def crash_at(step: str):  # type: ignore[no-untyped-def]
    def hook(name: str) -> None:
        if name == step:
            raise Crash(name)

    return hook


def prepare(path: Path) -> tuple[PartitionLog, CleanerCheckpoints]:
    """A log cleaned once, then written to again, so the next cleaning merges segments."""
    log = PartitionLog.open(path, SMALL, now_ms=0)
    write_updates(log, 2_000, 23)
    for i in range(0, 23, 4):
        append(log, batch([(f"k{i}".encode(), None)], 5_000))
    log.flush()
    store = CleanerCheckpoints()
    assert clean_log(log, CleanerConfig(), store, NOW) is not None
    write_updates(log, 1_500, 23, start=2_000)
    log.flush()
    return log, store


def cleaner_files(path: Path) -> list[str]:
    return [n for n in os.listdir(path) if n.endswith(".cleaned") or n.startswith(MANIFEST_FILE)]


Content = list[tuple[int, bytes | None, bytes | None]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Content, Content, CleanResult]:
    """(content before the second cleaning, content after it, its result), without crashes."""
    path = tmp_path_factory.mktemp("reference") / "t-0"
    log, store = prepare(path)
    before = as_tuples(records(log))
    result = clean_log(log, CleanerConfig(), store, NOW + 1)
    assert result is not None and result.segments_replaced > result.segments_written > 0
    after = as_tuples(records(log))
    log.close()
    return before, after, result


@pytest.mark.parametrize("step", STEPS)
def test_crash_at_each_step(tmp_path: Path, step: str, reference: tuple[Content, Content, CleanResult]
                            ) -> None:
    before, after, _ = reference
    path = tmp_path / "t-0"
    log, store = prepare(path)
    assert as_tuples(records(log)) == before
    with pytest.raises(Crash):
        clean_log(log, CleanerConfig(), store, NOW + 1, on_step=crash_at(step))
    log._release()  # a killed process: no more writes, no clean shutdown
    again = PartitionLog.open(path, SMALL, now_ms=0)
    try:
        assert cleaner_files(path) == []
        expected = after if step in COMMITTED else before
        assert as_tuples(records(again)) == expected
        assert again.log_start_offset == 0 and again.log_end_offset == before[-1][0] + 1
        for offset in range(0, again.log_end_offset, 13):  # indexes are sound: every offset reads
            got = again.read(offset, 1)
            assert got.next_offset > offset
        # The log goes on: cleaning again and appending work.
        result = clean_log(again, CleanerConfig(), CleanerCheckpoints(), NOW + 2, force=True)
        assert result is not None
        assert as_tuples(records(again)) == after
        append(again, batch([(b"k1", b"after")]))
        assert records(again)[-1].value == b"after"
    finally:
        again.close()


def test_damaged_manifest_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log = PartitionLog.open(path, SMALL, now_ms=0)
    write_updates(log, 1_000, 7)
    log.close()
    content = None
    log = PartitionLog.open(path, SMALL, now_ms=0)
    content = as_tuples(records(log))
    log.close()
    (path / cleaned_name(0)).write_bytes(b"garbage")
    raw = bytearray(encode_manifest([(0, 100)]))
    raw[-1] ^= 0xFF
    (path / MANIFEST_FILE).write_bytes(bytes(raw))
    assert recover_swaps(str(path)) == ()
    assert cleaner_files(path) == []
    again = PartitionLog.open(path, SMALL, now_ms=0)
    try:
        assert as_tuples(records(again)) == content
    finally:
        again.close()


def test_committed_swap_completed_when_cleaned_file_already_renamed(tmp_path: Path) -> None:
    """A crash after the renames but before the manifest went: completing again is harmless."""
    path = tmp_path / "t-0"
    log = PartitionLog.open(path, SMALL, now_ms=0)
    write_updates(log, 1_000, 7)
    log.flush()
    result = clean_log(log, CleanerConfig(), CleanerCheckpoints(), NOW)
    assert result is not None
    content = as_tuples(records(log))
    runs = [(s.base_offset, log.segments[i + 1].base_offset) for i, s in enumerate(log.segments[:-1])]
    log._release()
    directory = LogDir(str(path))
    try:
        write_manifest(directory, runs)
    finally:
        directory.close()
    assert recover_swaps(str(path)) == tuple(runs)
    again = PartitionLog.open(path, SMALL, now_ms=0)
    try:
        assert as_tuples(records(again)) == content
        assert cleaner_files(path) == []
    finally:
        again.close()
