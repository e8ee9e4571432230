"""Producer state rebuilt from a partition log, with and without snapshots."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from streamlog.broker.producer_states import SNAPSHOT_FILE, PartitionStates
from streamlog.broker.topics import Partition
from streamlog.protocol.records.builder import NewRecord, build_batch, build_control_batch
from streamlog.protocol.records.header import BatchHeader
from streamlog.storage.config import LogConfig
from streamlog.storage.log import PartitionLog
from streamlog.storage.producer_state import CheckKind


def batch(pid: int, epoch: int, seq: int, n: int, *, txn: bool = False) -> bytearray:
    recs = [NewRecord(b"k", b"v%d" % i, 1000) for i in range(n)]
    return bytearray(build_batch(recs, producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                                 transactional=txn))


def fill(plog: PartitionLog) -> None:
    plog.append(batch(1, 0, 0, 3), now_ms=1)  # 0-2
    plog.append(batch(2, 0, 0, 2, txn=True), now_ms=1)  # 3-4
    plog.append(batch(3, 0, 0, 1, txn=True), now_ms=1)  # 5
    marker = build_control_batch(commit=False, producer_id=2, producer_epoch=0, coordinator_epoch=0,
                                 timestamp=1)
    plog.append(bytearray(marker), now_ms=1)  # 6
    plog.append(batch(-1, -1, -1, 2), now_ms=1)  # 7-8


def open_part(path: Path) -> Partition:
    plog = PartitionLog.open(path, LogConfig(), now_ms=1)
    return Partition("t", 0, plog, {}, durable=True)


def check_state(states: PartitionStates, part: Partition, last_seq: int = 2) -> None:
    state = states.get(part)
    assert state.producers[1].last_seq == last_seq
    assert state.ongoing == {3: 5}
    assert [(a.producer_id, a.first_offset, a.last_offset) for a in state.aborted] == [(2, 3, 6)]
    assert state.last_stable_offset(9) == 5
    dup = state.check_append([BatchHeader(0, 0, 0, 2, 0, 0, 2, 1, 1, 1, 0, 0, 3)])
    assert dup.kind == CheckKind.DUPLICATE and dup.duplicate is not None and dup.duplicate.first_offset == 0


def test_rebuild_from_log_then_from_snapshot(tmp_path: Path) -> None:
    part = open_part(tmp_path / "t-0")
    fill(part.log)
    states = PartitionStates()
    check_state(states, part)
    part.log.flush()
    assert states.save(part.log, states.get(part))
    part.log.close()
    assert os.path.exists(tmp_path / "t-0" / SNAPSHOT_FILE)

    again = open_part(tmp_path / "t-0")
    again.log.append(batch(1, 0, 3, 1), now_ms=1)  # after the snapshot: replayed from the log
    fresh = PartitionStates()
    check_state(fresh, again, last_seq=3)
    again.log.close()


def test_snapshot_beyond_the_log_is_discarded(tmp_path: Path) -> None:
    part = open_part(tmp_path / "t-0")
    fill(part.log)
    states = PartitionStates()
    state = states.get(part)
    part.log.flush()
    states.save(part.log, state)
    part.log.truncate_all(0)  # the log lost everything the snapshot describes
    fresh = PartitionStates()
    assert fresh.get(part).producers == {}
    assert not os.path.exists(tmp_path / "t-0" / SNAPSHOT_FILE)
    part.log.close()


def test_unflushed_state_is_not_snapshotted(tmp_path: Path) -> None:
    part = open_part(tmp_path / "t-0")
    part.log.append(batch(1, 0, 0, 1), now_ms=1)
    states = PartitionStates()
    assert not states.save(part.log, states.get(part))
    part.log.close()


def rebuilt_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "streamlog.broker.producer_states" and r.levelno >= logging.INFO]


def test_a_log_of_plain_producers_rebuilds_nothing_to_tell(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """The first produce with a producer id to a topic written only by plain producers (or to a new
    topic) loads an empty state: no INFO line claims it was rebuilt."""
    caplog.set_level(logging.INFO, logger="streamlog.broker.producer_states")
    part = open_part(tmp_path / "t-0")
    states = PartitionStates()
    assert states.get(part).producers == {}
    part.log.append(batch(-1, -1, -1, 2), now_ms=1)
    part.log.append(batch(-1, -1, -1, 1), now_ms=1)
    assert PartitionStates().get(part).producers == {}
    assert rebuilt_lines(caplog) == []
    part.log.close()


def test_a_rebuild_from_data_says_what_it_found(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="streamlog.broker.producer_states")
    part = open_part(tmp_path / "t-0")
    fill(part.log)
    check_state(PartitionStates(), part)
    assert rebuilt_lines(caplog) == [
        "t-0: producer state rebuilt from the log: 3 producers, from 4 batches between offsets 0 and 9"]
    part.log.close()
