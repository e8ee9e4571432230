"""Exactly-once source delivery (KIP-618): records and offsets in one transaction per poll."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from tests.support import connect_plugins
from tests.support.streams_runtime import read_topic, wait_for

from streamlog.connect.runtime.offsets import read_offsets
from streamlog.connect.runtime.source_worker import SourceWorkerTask
from streamlog.connect.runtime.states import State
from streamlog.connect.runtime.worker import TaskStatus, Worker

KEY_STRING = {"key.converter": "org.apache.kafka.connect.storage.StringConverter",
              "value.converter": "org.apache.kafka.connect.json.JsonConverter",
              "value.converter.schemas.enable": "false"}


def eos_config(name: str, topic: str, **extra: str) -> dict[str, str]:
    return {"name": name, "connector.class": "toy-source", "topic": topic,
            "exactly.once.support": "required", **KEY_STRING, **extra}


def values(bootstrap: str, topic: str, read_committed: bool = True) -> list[int]:
    records = read_topic(bootstrap, topic, read_committed=read_committed)
    return [json.loads(r.value or b"")["n"] for r in records]


def wait_values(bootstrap: str, topic: str, count: int) -> list[int]:
    def enough() -> list[int] | None:
        found = values(bootstrap, topic)
        return found if len(found) >= count else None

    return wait_for(enough, 30, f"{count} committed records in {topic}")


def stored_position(bootstrap: str, name: str) -> int | None:
    found = read_offsets(bootstrap, "connect-offsets", name)
    return None if not found else int(next(iter(found.values()))[1]["position"])


def test_each_record_once_and_offsets_with_them(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    worker = make_worker()
    worker.add_connector(eos_config("eos", topic, records="30", **{"batch.size": "4"}))
    assert wait_values(streamlog_bootstrap, topic, 30) == list(range(30))
    wait_for(lambda: stored_position(streamlog_bootstrap, "eos") == 29, 20, "the last offset")
    # one offsets_committed per non-empty poll (transaction), in order
    commits = [next(iter(c.values()))[1]["position"] for c in connect_plugins.COMMITTED["eos"]]
    assert commits == [3, 7, 11, 15, 19, 23, 27, 29]
    # every record and offset record was written transactionally: the uncommitted view holds nothing more
    assert values(streamlog_bootstrap, topic, read_committed=False) == list(range(30))
    worker.stop()
    again = make_worker()
    again.add_connector(eos_config("eos", topic, records="35", **{"batch.size": "4"}))
    assert wait_values(streamlog_bootstrap, topic, 35) == list(range(35))


class FailingCommit(Producer):  # type: ignore[misc]
    """Aborts the transaction instead of committing it on the third commit."""

    commits = 0

    def commit_transaction(self, *args: Any) -> None:
        type(self).commits += 1
        if type(self).commits == 3:
            self.flush(10)
            self.abort_transaction(10)
            raise KafkaException(KafkaError(KafkaError._STATE, "injected commit failure"))
        super().commit_transaction(*args)


class AbortableCommit(Producer):  # type: ignore[misc]
    """The second commit fails as a broker restart can make it fail: abortable, the batch can be redone."""

    commits = 0

    def commit_transaction(self, *args: Any) -> None:
        type(self).commits += 1
        if type(self).commits == 2:
            self.flush(10)
            self.abort_transaction(10)
            raise KafkaException(KafkaError(KafkaError._STATE, "injected abortable failure",
                                            txn_requires_abort=True))
        super().commit_transaction(*args)


def test_an_abortable_failure_writes_the_batch_again(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    topic = streamlog_topic_factory()
    AbortableCommit.commits = 0
    monkeypatch.setattr(SourceWorkerTask, "make_producer", AbortableCommit)
    worker = make_worker()
    worker.add_connector(eos_config("redo", topic, records="12", **{"batch.size": "4"}))
    assert wait_values(streamlog_bootstrap, topic, 12) == list(range(12))
    # the log holds the aborted attempt too; read_committed skipped it
    everything = values(streamlog_bootstrap, topic, read_committed=False)
    assert everything == [*range(0, 8), *range(4, 12)]
    assert AbortableCommit.commits == 4  # the second batch twice
    assert worker.status("redo").tasks[0].state is State.RUNNING
    assert [next(iter(c.values()))[1]["position"] for c in connect_plugins.COMMITTED["redo"]] == [3, 7, 11]


def failed_task(worker: Worker, name: str) -> TaskStatus | None:
    task = worker.status(name).tasks[0]
    return task if task.state is State.FAILED else None


def test_an_aborted_batch_leaves_no_record_and_no_offset(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    topic = streamlog_topic_factory()
    FailingCommit.commits = 0
    monkeypatch.setattr(SourceWorkerTask, "make_producer", FailingCommit)
    worker = make_worker()
    worker.add_connector(eos_config("abort", topic, records="20", **{"batch.size": "5"}))
    task = wait_for(lambda: failed_task(worker, "abort"), 30, "the task to fail")
    assert task.trace is not None and "injected commit failure" in task.trace
    assert values(streamlog_bootstrap, topic) == list(range(10))
    # the third batch reached the log, aborted, with its offset record
    assert values(streamlog_bootstrap, topic, read_committed=False)[:15] == list(range(15))
    uncommitted = read_topic(streamlog_bootstrap, "connect-offsets", read_committed=False)
    assert b'{"position":14}' in [r.value for r in uncommitted]
    assert stored_position(streamlog_bootstrap, "abort") == 9
    assert [next(iter(c.values()))[1]["position"] for c in connect_plugins.COMMITTED["abort"]] == [4, 9]
    worker.restart("abort", include_tasks=True, only_failed=True)
    assert wait_values(streamlog_bootstrap, topic, 20) == list(range(20))
    assert worker.status("abort").tasks[0].state is State.RUNNING


def test_a_zombie_is_fenced_and_its_open_transaction_aborted(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    # KIP-618's transactional id: <worker group id>-<connector>-<task id>
    zombie = Producer({"bootstrap.servers": streamlog_bootstrap,
                       "transactional.id": "connect-cluster-zombie-0"})
    zombie.init_transactions(10)
    zombie.begin_transaction()
    zombie.produce(topic, key=b"z", value=b'{"n": -1}')
    zombie.flush(10)
    worker = make_worker()
    worker.add_connector(eos_config("zombie", topic, records="5"))
    assert wait_values(streamlog_bootstrap, topic, 5) == list(range(5))
    with pytest.raises(KafkaException) as caught:
        zombie.commit_transaction(10)
    assert caught.value.args[0].fatal() or caught.value.args[0].code() in (
        KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)
    assert values(streamlog_bootstrap, topic) == list(range(5))


def test_an_empty_poll_commits_nothing(make_worker: Callable[..., Worker], streamlog_bootstrap: str,
                                       streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    worker = make_worker()
    worker.add_connector(eos_config("idle", topic, records="0"))
    wait_for(lambda: worker.status("idle").tasks[0].state is State.RUNNING, 10, "the task")
    time.sleep(1.5)  # a few empty polls
    assert connect_plugins.COMMITTED.get("idle") is None
    offsets = read_topic(streamlog_bootstrap, "connect-offsets", read_committed=False)
    assert [r for r in offsets if (r.key or b"").startswith(b'["idle"')] == []
