"""The worker's state machine: pause, resume, stop, restart, reconfigure, delete; failures with traces."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from tests.support.streams_runtime import read_topic, wait_for

from streamlog.connect.api import ConnectError
from streamlog.connect.runtime.states import State
from streamlog.connect.runtime.worker import Worker


def config(name: str, topic: str, **extra: str) -> dict[str, str]:
    return {"name": name, "connector.class": "toy-source", "topic": topic,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false", **extra}


def count(bootstrap: str, topic: str) -> int:
    return len(read_topic(bootstrap, topic))


def values(bootstrap: str, topic: str) -> list[int]:
    return [json.loads(r.value or b"")["n"] for r in read_topic(bootstrap, topic)]


def states(worker: Worker, name: str) -> tuple[State, list[State]]:
    status = worker.status(name)
    return status.state, [task.state for task in status.tasks]


def test_pause_resume_stop_delete(make_worker: Callable[..., Worker], streamlog_bootstrap: str,
                                  streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    worker = make_worker()
    worker.add_connector(config("life", topic, records="100000",
                                **{"batch.size": "5", "poll.delay.ms": "20"}))
    wait_for(lambda: count(streamlog_bootstrap, topic) >= 5, 20, "records")
    assert states(worker, "life") == (State.RUNNING, [State.RUNNING])

    worker.pause("life")
    assert states(worker, "life") == (State.PAUSED, [State.PAUSED])
    time.sleep(0.5)  # a poll in progress at the pause finishes
    paused_at = count(streamlog_bootstrap, topic)
    time.sleep(0.5)
    assert count(streamlog_bootstrap, topic) == paused_at

    worker.resume("life")
    assert states(worker, "life") == (State.RUNNING, [State.RUNNING])
    wait_for(lambda: count(streamlog_bootstrap, topic) > paused_at, 20, "records after resume")

    worker.stop_connector("life")
    assert states(worker, "life") == (State.STOPPED, [])
    stopped_at = count(streamlog_bootstrap, topic)
    offset = worker.offsets("life")["offsets"][0]["offset"]["position"]
    assert offset == stopped_at - 1  # the stop committed everything sent
    time.sleep(0.5)
    assert count(streamlog_bootstrap, topic) == stopped_at
    assert worker.config("life")["records"] == "100000"

    worker.resume("life")  # a stopped connector starts again from its offsets
    wait_for(lambda: count(streamlog_bootstrap, topic) > stopped_at + 5, 20, "records after restart")
    assert states(worker, "life") == (State.RUNNING, [State.RUNNING])
    worker.stop_connector("life")
    got = values(streamlog_bootstrap, topic)
    assert got == list(range(len(got)))  # clean stops: no gap, no duplicate

    worker.delete_connector("life")
    assert worker.connectors() == []
    with pytest.raises(ConnectError, match="not found"):
        worker.status("life")


def test_failure_trace_and_restart_of_failed_tasks(
        make_worker: Callable[..., Worker], streamlog_bootstrap: str,
        streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    worker = make_worker()
    worker.add_connector(config("flaky", topic, records="12", **{"batch.size": "3", "fail.at": "7",
                                                                 "fail.times": "1"}))
    wait_for(lambda: states(worker, "flaky")[1] == [State.FAILED], 20, "the task to fail")
    status = worker.status("flaky")
    assert status.state is State.RUNNING  # Kafka Connect: the connector runs, its task failed
    trace = status.tasks[0].trace
    assert trace is not None and "RuntimeError: toy source failing at position 7" in trace

    worker.restart("flaky")  # the connector only: the failed task stays failed
    assert states(worker, "flaky")[1] == [State.FAILED]
    worker.restart("flaky", include_tasks=True, only_failed=True)
    wait_for(lambda: count(streamlog_bootstrap, topic) >= 12, 20, "every record")
    assert values(streamlog_bootstrap, topic) == list(range(12))  # 0..5 committed at the failure
    assert states(worker, "flaky") == (State.RUNNING, [State.RUNNING])
    assert worker.status("flaky").tasks[0].trace is None


def test_restart_task_and_reconfigure(make_worker: Callable[..., Worker], streamlog_bootstrap: str,
                                      streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    worker = make_worker()
    worker.add_connector(config("re", topic, records="5"))
    wait_for(lambda: count(streamlog_bootstrap, topic) >= 5, 20, "records")
    worker.restart_task("re", 0)
    assert states(worker, "re") == (State.RUNNING, [State.RUNNING])
    with pytest.raises(ConnectError, match="Task re-3 not found"):
        worker.restart_task("re", 3)
    created = worker.put_config("re", {**config("re", topic), "records": "9"})
    assert created is False and worker.config("re")["records"] == "9"
    wait_for(lambda: count(streamlog_bootstrap, topic) >= 9, 20, "records after reconfiguring")
    assert values(streamlog_bootstrap, topic) == list(range(9))
    with pytest.raises(ConnectError, match="already exists"):
        worker.add_connector(config("re", topic))
    with pytest.raises(ConnectError, match="doesn't match"):
        worker.put_config("re", config("other", topic))
    with pytest.raises(ConnectError, match="unknown option 'nope'"):
        worker.put_config("re", {**config("re", topic), "nope": "1"})
    assert worker.put_config("new", config("new", topic, records="0")) is True
    assert worker.connectors() == ["new", "re"]


def test_added_before_start_is_unassigned(streamlog_bootstrap: str,
                                          streamlog_topic_factory: Callable[..., str]) -> None:
    topic = streamlog_topic_factory()
    worker = Worker(streamlog_bootstrap, offset_flush_interval_ms=100)
    worker.add_connector(config("early", topic, records="3"))
    assert states(worker, "early") == (State.UNASSIGNED, [])
    with worker:
        assert states(worker, "early") == (State.RUNNING, [State.RUNNING])
        wait_for(lambda: count(streamlog_bootstrap, topic) >= 3, 20, "records")
    assert worker.status("early").state is State.UNASSIGNED


def test_plugins_and_validate(make_worker: Callable[..., Worker]) -> None:
    worker = make_worker()
    plugins = worker.plugins()
    assert ("toy-source", "source", "0.1.0") in plugins and ("toy-sink", "sink", "0.1.0") in plugins
    report = worker.validate("toy-source", {"name": "v", "topic": "t", "records": "x"})
    assert report["error_count"] == 1
    with pytest.raises(ConnectError):
        worker.validate("no-such-plugin", {})
