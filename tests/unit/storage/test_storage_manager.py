"""LogManager: one log per partition, the directory lock, deletion, memory mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from storage_support import make_batch, offsets

from streamlog.storage.config import LogConfig
from streamlog.storage.errors import LogDirLockedError
from streamlog.storage.log import PartitionLog
from streamlog.storage.manager import LogManager, parse_partition_dir
from streamlog.storage.memory import MemoryPartitionLog


def test_second_manager_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    first = LogManager.open(tmp_path)
    with pytest.raises(LogDirLockedError) as info:
        LogManager.open(tmp_path)
    assert str(info.value) == (f"data directory {tmp_path} is in use by another broker "
                               f"(it holds the lock on {tmp_path / '.lock'})")
    first.close_all()
    LogManager.open(tmp_path).close_all()  # released on close


def test_create_get_reopen(tmp_path: Path) -> None:
    manager = LogManager.open(tmp_path)
    log_ = manager.create("orders.v1", 2, LogConfig(), now_ms=0)
    assert isinstance(log_, PartitionLog) and not isinstance(log_, MemoryPartitionLog)
    assert manager.get("orders.v1", 2) is log_ and manager.get("orders.v1", 0) is None
    assert manager.create("orders.v1", 2, LogConfig(segment_ms=5), now_ms=0) is log_
    assert log_.config.segment_ms == 5
    log_.append(make_batch(2), now_ms=0)
    manager.create("my-topic", 0, LogConfig(), now_ms=0)
    assert sorted(tp for tp, _ in manager.logs()) == [("my-topic", 0), ("orders.v1", 2)]
    manager.close_all()
    assert len(manager) == 0

    manager = LogManager.open(tmp_path)
    assert manager.partition_dirs() == [("my-topic", 0), ("orders.v1", 2)]
    again = manager.create("orders.v1", 2, LogConfig(), now_ms=0)
    assert again.recovery_report.clean_shutdown
    assert offsets(again.read(0, 1_000).data) == [(0, 1)]
    manager.close_all()


def test_delete_topic_removes_open_and_unopened_partitions(tmp_path: Path) -> None:
    manager = LogManager.open(tmp_path)
    for p in range(3):
        manager.create("doomed", p, LogConfig(), now_ms=0)
    manager.create("doomed-x", 0, LogConfig(), now_ms=0)
    manager.close_all()
    manager = LogManager.open(tmp_path)
    manager.create("doomed", 1, LogConfig(), now_ms=0)
    assert manager.delete("doomed") == 3
    assert manager.partition_dirs() == [("doomed-x", 0)]
    assert manager.get("doomed", 1) is None
    assert not any(name.endswith(".delete") for name in os.listdir(tmp_path))
    manager.close_all()


def test_deferred_removal_renames_at_once_and_hands_over_the_rest(tmp_path: Path) -> None:
    """With `remove_tree` set, delete only renames (durably) and passes the renamed directory on;
    a partition re-created and deleted again before that removal ran gets a name of its own."""
    manager = LogManager.open(tmp_path)
    handed: list[str] = []
    manager.remove_tree = handed.append
    for _ in range(2):
        log_ = manager.create("t", 0, LogConfig(), now_ms=0)
        log_.append(make_batch(2), now_ms=0)
        assert manager.delete("t") == 1
    assert manager.partition_dirs() == [] and manager.get("t", 0) is None
    assert len(handed) == 2 and len(set(handed)) == 2
    for path in handed:
        name = os.path.basename(path)
        assert name.startswith("t-0.") and name.endswith(".delete") and parse_partition_dir(name) is None
        assert os.path.isdir(path)  # not removed yet: that is the caller's job
    manager.close_all()
    LogManager.open(tmp_path).close_all()  # a crash before the removal: open cleans up
    assert not any(name.endswith(".delete") for name in os.listdir(tmp_path))


def test_a_topic_with_the_longest_legal_name_can_be_deleted(tmp_path: Path) -> None:
    name = "x" * 249  # Kafka's limit; with "-99999" and the deletion suffix it exceeds 255 bytes
    manager = LogManager.open(tmp_path)
    handed: list[str] = []
    manager.remove_tree = handed.append
    manager.create(name, 99999, LogConfig(), now_ms=0).append(make_batch(1), now_ms=0)
    assert manager.delete(name) == 1
    [doomed] = handed
    assert len(os.path.basename(doomed)) <= 255 and doomed.endswith(".delete") and os.path.isdir(doomed)
    assert manager.partition_dirs() == []
    manager.close_all()
    LogManager.open(tmp_path).close_all()
    assert not any(n.endswith(".delete") for n in os.listdir(tmp_path))


def test_leftover_deletions_are_removed_on_open(tmp_path: Path) -> None:
    os.makedirs(tmp_path / "gone-0.delete")
    (tmp_path / "gone-0.delete" / "00000000000000000000.log").write_bytes(b"x")
    LogManager.open(tmp_path).close_all()
    assert not (tmp_path / "gone-0.delete").exists()


def test_memory_mode(tmp_path: Path) -> None:
    manager = LogManager.open(None)
    assert manager.in_memory and manager.partition_dirs() == []
    log_ = manager.create("t", 0, LogConfig(), now_ms=0)
    assert isinstance(log_, MemoryPartitionLog)
    assert log_.append(make_batch(3), now_ms=0).last_offset == 2
    assert manager.delete("t") == 1 and manager.get("t", 0) is None
    manager.close_all()


def test_parse_partition_dir() -> None:
    assert parse_partition_dir("a-b-12") == ("a-b", 12)
    assert parse_partition_dir("__consumer_offsets-49") == ("__consumer_offsets", 49)
    for name in ("noparts", "-3", "t-", "t-x", "__cluster_metadata-0", ".lock"):
        assert parse_partition_dir(name) is None
