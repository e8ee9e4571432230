"""``__transaction_state``: replay after reopen, compaction keeping offsets, and recovery from an
interrupted rewrite left by an earlier version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamlog.broker import txn_log
from streamlog.broker.txn_log import TXN_LOG_CONFIGS, TXN_LOG_DIR, TxnLog
from streamlog.coordinator.txn import TxnCoordinator, records
from streamlog.protocol.records.batch import iter_batches
from streamlog.protocol.records.record import iter_records
from streamlog.storage.cleaner import CleanerCheckpoints, CleanerConfig, clean_log
from streamlog.storage.config import LogConfig


def write(log: TxnLog, n: int) -> None:
    for i in range(n):
        log.append(records.txn_key(f"id-{i % 3}"), b'{"v":99}', 1)  # superseded, unknown-version values
    log.append(records.PRODUCER_IDS_KEY, records.producer_id_block_value(5000), 1)


def offsets(log: TxnLog) -> dict[int, bytes]:
    """offset -> key of every record the log holds."""
    plog, out, offset = log.plog, {}, log.plog.log_start_offset
    while offset < plog.log_end_offset:
        result = plog.read(offset, 1 << 20)
        for pos, _header in iter_batches(result.data):
            for record in iter_records(result.data, pos):
                assert record.key is not None
                out[record.offset] = record.key
        offset = result.next_offset
    return out


def test_offsets_survive_reopen_and_cleaning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(txn_log, "_CONFIG", LogConfig(segment_bytes=2048))  # many closed segments
    log = TxnLog(tmp_path, 1)
    write(log, 300)
    end = log.plog.log_end_offset
    log.close()

    # A reopen replays everything and rewrites nothing (the log cleaner compacts, keeping offsets).
    log = TxnLog(tmp_path, 1)
    coord = TxnCoordinator()
    assert coord.load(log.replay()) == 300  # the unknown-version records are skipped, and counted
    assert coord.pids.next_id == 5000 and log.records == 301 and log.plog.log_end_offset == end
    before = offsets(log)
    assert len(before) == 301

    log.plog.flush()
    result = clean_log(log.plog, CleanerConfig.from_topic_config(TXN_LOG_CONFIGS), CleanerCheckpoints(), 2)
    assert result is not None and result.records_kept < result.records_read
    after = offsets(log)
    assert len(after) < len(before) and log.plog.log_end_offset == end
    assert all(before[offset] == key for offset, key in after.items())  # same offsets, same keys
    assert after[end - 1] == records.PRODUCER_IDS_KEY
    log.append(records.txn_key("after"), None, 3)
    log.close()

    log = TxnLog(tmp_path, 1)
    fresh = TxnCoordinator()
    fresh.load(log.replay())
    assert fresh.pids.next_id == 5000 and log.plog.log_end_offset == end + 1
    assert offsets(log)[end] == records.txn_key("after")
    log.close()


def test_interrupted_compaction_is_finished_or_discarded(tmp_path: Path) -> None:
    log = TxnLog(tmp_path, 1)
    write(log, 3)
    log.close()
    # interrupted after the swap started: only the complete .compact copy is left
    os.rename(tmp_path / TXN_LOG_DIR, tmp_path / (TXN_LOG_DIR + ".compact"))
    log = TxnLog(tmp_path, 1)
    assert sum(1 for _ in log.replay()) == 4
    log.close()
    # interrupted before the swap: a partial .compact next to the log is dropped
    os.makedirs(tmp_path / (TXN_LOG_DIR + ".compact"))
    log = TxnLog(tmp_path, 1)
    assert sum(1 for _ in log.replay()) == 4
    assert not os.path.exists(tmp_path / (TXN_LOG_DIR + ".compact"))
    log.close()


def test_memory_mode() -> None:
    log = TxnLog(None, 1)
    log.append(records.txn_key("x"), None, 1)
    assert list(log.replay()) == [(records.txn_key("x"), None)]
    log.close()
