"""``__transaction_state``: replay after reopen, compaction, and recovery from an interrupted compaction."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamlog.broker import txn_log
from streamlog.broker.txn_log import TXN_LOG_DIR, TxnLog
from streamlog.coordinator.txn import TxnCoordinator, records


def write(log: TxnLog, n: int) -> None:
    for i in range(n):
        log.append(records.txn_key(f"id-{i % 3}"), b'{"v":99}', 1)  # superseded, unknown-version values
    log.append(records.PRODUCER_IDS_KEY, records.producer_id_block_value(5000), 1)


def test_replay_and_compaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(txn_log, "_COMPACT_MIN_RECORDS", 50)
    log = TxnLog(tmp_path, 1)
    write(log, 100)
    log.close()

    log = TxnLog(tmp_path, 1)
    coord = TxnCoordinator()
    assert coord.load(log.replay()) == 100  # the unknown-version records are skipped, and counted
    assert coord.pids.next_id == 5000 and log.records == 101
    live = [(records.PRODUCER_IDS_KEY, records.producer_id_block_value(coord.pids.reserved_until))]
    log.maybe_compact(live, 2)
    assert log.records == 1
    log.append(records.txn_key("after"), None, 3)
    log.close()
    assert not os.path.exists(tmp_path / (TXN_LOG_DIR + ".delete"))

    log = TxnLog(tmp_path, 1)
    fresh = TxnCoordinator()
    assert fresh.load(log.replay()) == 0
    assert fresh.pids.next_id == 5000 and log.records == 2
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
