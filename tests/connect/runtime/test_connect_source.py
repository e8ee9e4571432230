"""The source path against a real broker: at-least-once, offsets topic layout, restart, transforms."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from confluent_kafka.admin import AdminClient, ConfigResource
from tests.support import connect_plugins
from tests.support.streams_runtime import read_topic, wait_for

from streamlog.connect.runtime.states import State
from streamlog.connect.runtime.worker import TaskStatus, Worker
from streamlog.streams.runtime.query_views import default_partition


def source_config(name: str, topic: str, **extra: str) -> dict[str, str]:
    return {"name": name, "connector.class": "toy-source", "topic": topic,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false", **extra}


def values(bootstrap: str, topic: str, read_committed: bool = True) -> list[int]:
    records = read_topic(bootstrap, topic, read_committed=read_committed)
    return [json.loads(r.value or b"null")["n"] for r in records]


def wait_values(bootstrap: str, topic: str, count: int, read_committed: bool = True) -> list[int]:
    def enough() -> list[int] | None:
        found = values(bootstrap, topic, read_committed)
        return found if len(found) >= count else None

    return wait_for(enough, 30, f"{count} records in {topic}")


def test_at_least_once_delivers_records_and_commits_offsets(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    worker = make_worker()
    worker.add_connector(source_config("alo", topic, records="25", **{"batch.size": "7"}))
    assert wait_values(streamlog_bootstrap, topic, 25) == list(range(25))
    wait_for(lambda: worker.offsets("alo")["offsets"], 20, "a committed offset")
    assert wait_for(lambda: worker.offsets("alo") == {
        "offsets": [{"partition": {"toy": "alo"}, "offset": {"position": 24}}]}, 20, "the last offset")
    status = worker.status("alo")
    assert (status.state, status.type, [t.state for t in status.tasks]) == (State.RUNNING, "source",
                                                                           [State.RUNNING])
    committed = connect_plugins.COMMITTED["alo"]
    assert committed[-1] == {'{"toy":"alo"}': ({"toy": "alo"}, {"position": 24})}


def offsets_topic_records(bootstrap: str, topic: str = "connect-offsets") -> list[tuple[int, bytes | None,
                                                                                         bytes | None]]:
    return [(r.partition, r.key, r.value) for r in read_topic(bootstrap, topic)]


def test_offsets_topic_layout(make_worker: Callable[..., Worker], streamlog_bootstrap: str,
                              streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    worker = make_worker()
    worker.add_connector(source_config("layout", topic, records="5"))
    wait_values(streamlog_bootstrap, topic, 5)
    wait_for(lambda: connect_plugins.COMMITTED.get("layout"), 20, "a commit")
    worker.stop()
    admin = AdminClient({"bootstrap.servers": streamlog_bootstrap})
    described = admin.list_topics("connect-offsets", timeout=10).topics["connect-offsets"]
    assert len(described.partitions) == 25
    configs = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "connect-offsets")])
    entries = next(iter(configs.values())).result()
    assert entries["cleanup.policy"].value == "compact"
    key = b'["layout",{"toy":"layout"}]'
    stored = offsets_topic_records(streamlog_bootstrap)
    assert stored, "nothing in connect-offsets"
    assert {k for _p, k, _v in stored} == {key}
    assert stored[-1][2] == b'{"position":4}'
    assert {p for p, _k, _v in stored} == {default_partition(key, 25)}


def test_restart_resumes_after_the_committed_offset(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    first = make_worker()
    first.add_connector(source_config("resume", topic, records="10", **{"batch.size": "3"}))
    wait_values(streamlog_bootstrap, topic, 10)
    first.stop()  # a clean stop commits the last offsets
    second = make_worker()
    second.add_connector(source_config("resume", topic, records="16", **{"batch.size": "3"}))
    assert wait_values(streamlog_bootstrap, topic, 16) == list(range(16))
    assert worker_offset(second, "resume") == 15


def worker_offset(worker: Worker, name: str) -> int:
    def last() -> int | None:
        found = worker.offsets(name)["offsets"]
        return int(found[0]["offset"]["position"]) if found else None

    return wait_for(last, 20, "an offset")


def test_transforms_headers_and_a_partition_left_to_the_producer(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory(partitions=3)
    worker = make_worker()
    worker.add_connector(source_config("tags", topic, records="10", transforms="tag",
                                       **{"transforms.tag.type": "toy-tag", "transforms.tag.value": "hi",
                                          "transforms.tag.drop.every": "3"}))
    kept = [i for i in range(10) if i % 3]
    wait_values(streamlog_bootstrap, topic, len(kept))
    records = read_topic(streamlog_bootstrap, topic)
    assert sorted(json.loads(r.value or b"")["n"] for r in records) == kept
    for record in records:
        n = json.loads(record.value or b"")["n"]
        assert record.key == str(n).encode()
        assert record.headers == (("position", str(n).encode()), ("tag", b"hi"))
        assert record.partition == default_partition(record.key, 3)
    assert worker_offset(worker, "tags") == 9  # dropped records count as done


def test_errors_tolerance_all_skips_a_bad_record(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    worker = make_worker()
    worker.add_connector(source_config("tolerant", topic, records="6", **{"bad.at": "2,4",
                                                                          "errors.tolerance": "all",
                                                                          "errors.log.enable": "true"}))
    assert wait_values(streamlog_bootstrap, topic, 4) == [0, 1, 3, 5]
    assert worker_offset(worker, "tolerant") == 5
    assert worker.status("tolerant").tasks[0].state is State.RUNNING


def test_a_bad_record_fails_the_task_by_default(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    worker = make_worker()
    worker.add_connector(source_config("strict", topic, records="6", **{"bad.at": "2"}))
    task = wait_failed(worker, "strict")
    assert task.trace is not None and "set" in task.trace
    assert worker_offset(worker, "strict") == 1  # the records before the bad one were committed


def wait_failed(worker: Worker, name: str, task_id: int = 0) -> TaskStatus:
    def failed() -> TaskStatus | None:
        task = worker.status(name).tasks[task_id]
        return task if task.state is State.FAILED else None

    return wait_for(failed, 20, f"task {name}-{task_id} to fail")


def test_topic_creation_default(make_worker: Callable[..., Worker], streamlog_bootstrap: str) -> None:
    topic = f"created-{uuid.uuid4().hex[:8]}"
    worker = make_worker()
    worker.add_connector(source_config("creates", topic, records="3", **{
        "topic.creation.default.partitions": "4", "topic.creation.default.replication.factor": "-1"}))
    admin = AdminClient({"bootstrap.servers": streamlog_bootstrap})
    # list every topic: asking about this one could auto-create it before the task does
    described = wait_for(lambda: admin.list_topics(timeout=10).topics.get(topic), 20, "the topic")
    assert len(described.partitions) == 4
    wait_values(streamlog_bootstrap, topic, 3)


def test_a_refused_delivery_fails_the_task_and_commits_nothing(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory(config={"max.message.bytes": "40"})  # smaller than any batch
    worker = make_worker()
    worker.add_connector(source_config("refused", topic, records="5"))
    task = wait_failed(worker, "refused")
    assert task.trace is not None and "could not be delivered" in task.trace
    assert worker.offsets("refused") == {"offsets": []}
    assert connect_plugins.COMMITTED.get("refused") is None
