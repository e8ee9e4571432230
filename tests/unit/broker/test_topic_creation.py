"""Creating topics and partitions: refused before anything is written beyond the partition limit, and
all or nothing across failures.

A failure is injected at every step of a creation (each directory, the data directory's fsync, the
metadata record, each log's first open), then the broker is closed and opened again on the same
data directory: either the whole topic is there with every partition, or nothing is, and no
directory is left that no topic has. The crash version of this (SIGKILL of a real broker while it
creates a large topic) is in tests/crash/test_topic_creation_crash.py.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streamlog.broker.config import BrokerConfig
from streamlog.broker.core import Broker
from streamlog.broker.topics import TopicError
from streamlog.protocol.errors import ErrorCode
from streamlog.protocol.records.builder import NewRecord, build_batch
from streamlog.storage import manager as manager_module
from streamlog.storage.log import PartitionLog

PARTITIONS = 4


def open_broker(path: Path, **settings: str) -> Broker:
    values = {"log.dirs": str(path), "log.cleaner.backoff.ms": "3600000", **settings}
    return Broker.open(BrokerConfig(values))


def close(broker: Broker) -> None:
    asyncio.run(broker.close())


def dirs_of(path: Path, topic: str) -> list[int]:
    """The partition numbers of ``topic`` that have a directory."""
    found = []
    for name in os.listdir(path):
        head, _, number = name.rpartition("-")
        if head == topic and number.isdigit() and (path / name).is_dir():
            found.append(int(number))
    return sorted(found)


def assert_all_or_nothing(path: Path, topic: str, partitions: int) -> bool:
    """Open the broker again: the topic has all its partitions, each with its directory, or it does
    not exist and none of its directories is left. Returns whether it exists."""
    broker = open_broker(path)
    try:
        found = broker.topics.get(topic)
        if found is None:
            assert dirs_of(path, topic) == [], "no topic, so no directory may be left"
            return False
        assert len(found.partitions) == partitions
        assert dirs_of(path, topic) == list(range(partitions))
        for part in found.partitions:
            assert part.log.log_end_offset == 0
        return True
    finally:
        close(broker)


def fail_at(count: int, error: BaseException) -> Callable[..., Any]:
    """A wrapper factory: the ``count``-th call raises ``error``, the others go through."""

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        calls = [0]

        def call(*args: Any, **kwargs: Any) -> Any:
            calls[0] += 1
            if calls[0] == count:
                raise error
            return real(*args, **kwargs)

        return call

    return wrap


EIO = OSError(errno.EIO, "Input/output error")
STEPS = (
    [("directory", n) for n in range(1, PARTITIONS + 1)]
    + [("fsync of the data directory", 1), ("metadata record", 1)]
    + [("first open of a log", n) for n in range(1, PARTITIONS + 1)]
)


def inject(monkeypatch: pytest.MonkeyPatch, broker: Broker, step: str, n: int) -> None:
    if step == "directory":
        monkeypatch.setattr(manager_module.os, "mkdir", fail_at(n, EIO)(os.mkdir))
    elif step == "fsync of the data directory":
        monkeypatch.setattr(manager_module, "fsync_dir", fail_at(n, EIO)(manager_module.fsync_dir))
    elif step == "metadata record":  # appended to the file, then its fdatasync fails
        plog = broker.metadata.log
        logdir = broker.logs.logdir
        assert logdir is not None

        def failing_flush() -> int:
            raise logdir.fail("fdatasync of the metadata log", EIO)

        monkeypatch.setattr(plog, "flush", failing_flush)
    else:
        real = PartitionLog._open.__func__  # type: ignore[attr-defined]

        def counted(cls: type[PartitionLog], directory: str, *args: Any, **kwargs: Any) -> PartitionLog:
            if os.path.basename(directory).startswith("t-"):
                counted.calls += 1  # type: ignore[attr-defined]
                if counted.calls == n:  # type: ignore[attr-defined]
                    raise EIO
            result: PartitionLog = real(cls, directory, *args, **kwargs)
            return result

        counted.calls = 0  # type: ignore[attr-defined]
        monkeypatch.setattr(PartitionLog, "_open", classmethod(counted))


@pytest.mark.parametrize(("step", "n"), STEPS, ids=[f"{s}-{n}" for s, n in STEPS])
def test_a_failed_step_of_create_topics_leaves_all_or_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, n: int
) -> None:
    broker = open_broker(tmp_path)
    inject(monkeypatch, broker, step, n)
    with pytest.raises(TopicError) as refused:
        broker.topics.create("t", PARTITIONS, {}, broker.clock.now_ms())
    assert refused.value.code == ErrorCode.KAFKA_STORAGE_ERROR
    assert broker.logs.logdir is not None and broker.logs.logdir.offline, "fail-stop: nothing more is written"
    close(broker)
    monkeypatch.undo()
    exists = assert_all_or_nothing(tmp_path, "t", PARTITIONS)
    committed = step in ("metadata record", "first open of a log")  # the record reached the file
    assert exists == committed


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_failed_step_of_create_partitions_leaves_the_old_count_or_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    broker = open_broker(tmp_path)
    broker.topics.create("t", 2, {}, broker.clock.now_ms())
    monkeypatch.setattr(manager_module.os, "mkdir", fail_at(n, EIO)(os.mkdir))
    with pytest.raises(TopicError):
        broker.topics.add_partitions("t", 5, broker.clock.now_ms())
    close(broker)
    monkeypatch.undo()
    assert assert_all_or_nothing(tmp_path, "t", 2), "still the two it had"
    broker = open_broker(tmp_path)
    real = PartitionLog._open.__func__  # type: ignore[attr-defined]
    calls = [0]

    def failing(cls: type[PartitionLog], directory: str, *args: Any, **kwargs: Any) -> PartitionLog:
        calls[0] += 1
        if calls[0] == n:
            raise EIO
        result: PartitionLog = real(cls, directory, *args, **kwargs)
        return result

    monkeypatch.setattr(PartitionLog, "_open", classmethod(failing))
    with pytest.raises(TopicError):
        broker.topics.add_partitions("t", 5, broker.clock.now_ms())
    close(broker)
    monkeypatch.undo()
    assert assert_all_or_nothing(tmp_path, "t", 5), "the record was written: all five"


def test_an_interrupted_creation_that_is_no_io_error_takes_its_directories_back_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = open_broker(tmp_path)
    monkeypatch.setattr(manager_module.os, "mkdir", fail_at(3, KeyboardInterrupt())(os.mkdir))
    with pytest.raises(KeyboardInterrupt):
        broker.topics.create("t", PARTITIONS, {}, broker.clock.now_ms())
    monkeypatch.undo()
    assert dirs_of(tmp_path, "t") == [] and broker.topics.get("t") is None
    assert broker.logs.logdir is not None and not broker.logs.logdir.offline
    broker.topics.create("t", PARTITIONS, {}, broker.clock.now_ms())  # and it can be created after all
    close(broker)
    assert assert_all_or_nothing(tmp_path, "t", PARTITIONS)


def test_beyond_the_partition_limit_nothing_is_written(tmp_path: Path) -> None:
    broker = open_broker(tmp_path, **{"streamlog.max.partitions": "10"})
    now = broker.clock.now_ms()
    broker.topics.create("a", 6, {}, now)
    records = broker.metadata.log.log_end_offset
    with pytest.raises(TopicError) as refused:
        broker.topics.create("b", 5, {}, now)
    assert refused.value.code == ErrorCode.POLICY_VIOLATION
    assert refused.value.message == (
        "Cannot create topic 'b' with 5 partitions: this broker holds 6 partitions and is limited to 10 "
        "(streamlog.max.partitions), so at most 4 more can be created.")
    with pytest.raises(TopicError) as grown:
        broker.topics.add_partitions("a", 11, now)
    assert grown.value.code == ErrorCode.POLICY_VIOLATION
    assert "add 5 partitions to topic 'a'" in grown.value.message
    with pytest.raises(TopicError):
        broker.topics.add_partitions("a", 11, now, validate_only=True)
    assert dirs_of(tmp_path, "b") == [] and dirs_of(tmp_path, "a") == list(range(6))
    assert broker.metadata.log.log_end_offset == records, "no metadata record either"
    broker.topics.create("b", 4, {}, now)  # exactly up to the limit is fine
    close(broker)
    broker = open_broker(tmp_path, **{"streamlog.max.partitions": "-1"})
    broker.topics.add_partitions("a", 20, broker.clock.now_ms())  # -1: no limit
    assert broker.topics.partition_count() == 24
    close(broker)


def test_at_start_directories_no_topic_has_are_removed_but_not_the_internal_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = open_broker(tmp_path)
    broker.topics.create("t", 2, {}, broker.clock.now_ms())
    close(broker)
    for stray in ("t-2", "t-7", "gone-0"):
        (tmp_path / stray).mkdir()
        (tmp_path / stray / "00000000000000000000.log").write_bytes(b"")
    internal = sorted(name for name in os.listdir(tmp_path) if name.startswith("__"))
    assert "__consumer_offsets" in internal and "__transaction_state" in internal
    with caplog.at_level(logging.WARNING):
        broker = open_broker(tmp_path)
    assert "removed 3 partition directories that no topic has" in caplog.text
    assert dirs_of(tmp_path, "t") == [0, 1] and dirs_of(tmp_path, "gone") == []
    assert sorted(name for name in os.listdir(tmp_path) if name.startswith("__")) == internal
    close(broker)


def test_strays_stay_when_the_metadata_holds_records_this_version_cannot_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = open_broker(tmp_path)
    now = broker.clock.now_ms()
    future = b'{"v":2,"type":"TopicCreated","name":"newer"}'
    broker.metadata.log.append(bytearray(build_batch([NewRecord(b"topic/newer", future, now)])), now_ms=now)
    broker.metadata.log.flush()
    close(broker)
    (tmp_path / "newer-0").mkdir()
    with caplog.at_level(logging.WARNING):
        broker = open_broker(tmp_path)
    assert dirs_of(tmp_path, "newer") == [0], "it may be a topic the metadata names in a newer format"
    assert "records this version cannot read: left in place (newer-0)" in caplog.text
    close(broker)
