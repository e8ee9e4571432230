"""The REST API over a real worker and a real broker: every route, what it does to running connectors.

Theory of operation: a `Worker` on the session broker runs the toy connectors of
tests/support/connect_plugins.py and `ConnectRestServer` serves it on a free port; the tests speak
HTTP with httpx, as a Kafka Connect client would, and check each answer against Kafka Connect's
shapes and codes and against what the worker then does (records produced, offsets committed, task
states).  test_connect_rest_shapes.py covers the error paths a fake worker can show.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from tests.support import connect_plugins
from tests.support.streams_runtime import read_topic, wait_for

from streamlog.connect.plugins import PLUGINS_ENV
from streamlog.connect.runtime.rest import ConnectRestServer
from streamlog.connect.runtime.worker import Worker

connect_plugins.install_fallback_converters()

JSON_VALUES = {
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "false",
}


@pytest.fixture
def api(streamlog_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    monkeypatch.setenv(PLUGINS_ENV, connect_plugins.PLUGINS_ENV_VALUE)
    connect_plugins.reset()
    worker = Worker(
        streamlog_bootstrap, offsets_topic=f"offsets-{uuid.uuid4().hex[:8]}", offset_flush_interval_ms=100
    )
    worker.start()
    server = ConnectRestServer(worker, "127.0.0.1:0", cluster_id=lambda: "test-cluster")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        server.stop()
        worker.stop()
        connect_plugins.reset()


def source(topic: str, **extra: Any) -> dict[str, str]:
    return {
        "connector.class": "toy-source",
        "topic": topic,
        **JSON_VALUES,
        **{k.replace("_", "."): str(v) for k, v in extra.items()},
    }


def numbers(bootstrap: str, topic: str) -> list[int]:
    return [json.loads(r.value or b"null")["n"] for r in read_topic(bootstrap, topic)]


def state_of(client: httpx.Client, name: str) -> tuple[str, list[str]]:
    body = client.get(f"/connectors/{name}/status").json()
    return body["connector"]["state"], [task["state"] for task in body["tasks"]]


def wait_state(client: httpx.Client, name: str, wanted: tuple[str, list[str]]) -> None:
    wait_for(lambda: state_of(client, name) == wanted, 20, f"{name} in state {wanted}")


def test_create_read_and_list(
    api: httpx.Client, streamlog_bootstrap: str, streamlog_topic_factory: Callable[..., str]
) -> None:
    topic = streamlog_topic_factory()
    created = api.post("/connectors", json={"name": "toys", "config": source(topic, records=5)})
    assert created.status_code == 201, created.text
    config = {**source(topic, records=5), "name": "toys"}
    info = {"name": "toys", "config": config, "tasks": [{"connector": "toys", "task": 0}], "type": "source"}
    assert created.json() == info
    assert wait_for(lambda: numbers(streamlog_bootstrap, topic) == list(range(5)), 30, "5 records")

    assert api.get("/connectors").json() == ["toys"]
    assert api.get("/connectors/toys").json() == info
    assert api.get("/connectors/toys/config").json() == config
    worker_id = api.get("/connectors/toys/status").json()["connector"]["worker_id"]
    assert worker_id == api.base_url.netloc.decode()
    assert api.get("/connectors/toys/status").json() == {
        "name": "toys",
        "connector": {"state": "RUNNING", "worker_id": worker_id},
        "tasks": [{"id": 0, "state": "RUNNING", "worker_id": worker_id}],
        "type": "source",
    }
    assert api.get("/connectors/toys/tasks").json() == [
        {"id": {"connector": "toys", "task": 0}, "config": config}
    ]
    assert api.get("/connectors/toys/tasks/0/status").json() == {
        "id": 0,
        "state": "RUNNING",
        "worker_id": worker_id,
    }
    expanded = api.get("/connectors", params=[("expand", "status"), ("expand", "info")]).json()
    assert expanded == {"toys": {"status": api.get("/connectors/toys/status").json(), "info": info}}
    assert wait_for(
        lambda: (
            api.get("/connectors/toys/offsets").json()
            == {"offsets": [{"partition": {"toy": "toys"}, "offset": {"position": 4}}]}
        ),
        20,
        "the last offset",
    )
    root = api.get("/").json()
    assert root["kafka_cluster_id"] == "test-cluster" and root["version"]

    duplicate = api.post("/connectors", json={"name": "toys", "config": source(topic)})
    assert duplicate.status_code == 409
    assert duplicate.json() == {"error_code": 409, "message": "Connector toys already exists"}


def test_pause_resume_stop_restart_delete(
    api: httpx.Client, streamlog_bootstrap: str, streamlog_topic_factory: Callable[..., str]
) -> None:
    topic = streamlog_topic_factory()
    api.post(
        "/connectors",
        json={"name": "slow", "config": source(topic, records=100000, batch_size=1, poll_delay_ms=20)},
    )
    wait_for(lambda: numbers(streamlog_bootstrap, topic), 30, "a first record")

    assert api.put("/connectors/slow/pause").status_code == 202
    wait_state(api, "slow", ("PAUSED", ["PAUSED"]))
    settled = wait_for(lambda: _stable_count(streamlog_bootstrap, topic), 20, "no records while paused")
    assert api.put("/connectors/slow/resume").status_code == 202
    wait_state(api, "slow", ("RUNNING", ["RUNNING"]))
    wait_for(lambda: len(numbers(streamlog_bootstrap, topic)) > settled, 20, "records after resuming")

    assert api.put("/connectors/slow/stop").status_code == 204
    wait_state(api, "slow", ("STOPPED", []))
    assert api.put("/connectors/slow/resume").status_code == 202
    wait_state(api, "slow", ("RUNNING", ["RUNNING"]))

    assert api.post("/connectors/slow/restart").status_code == 204
    restarted = api.post("/connectors/slow/restart", params={"includeTasks": "true"})
    assert restarted.status_code == 202 and restarted.json()["name"] == "slow"
    assert api.post("/connectors/slow/tasks/0/restart").status_code == 204
    wait_state(api, "slow", ("RUNNING", ["RUNNING"]))

    assert api.delete("/connectors/slow").status_code == 204
    assert api.get("/connectors").json() == []
    gone = api.get("/connectors/slow/status")
    assert gone.status_code == 404 and gone.json() == {
        "error_code": 404,
        "message": "Connector slow not found",
    }


def _stable_count(bootstrap: str, topic: str) -> int | None:
    """The topic's record count if it does not grow over half a second, else None."""
    before = len(numbers(bootstrap, topic))
    time.sleep(0.5)
    after = len(numbers(bootstrap, topic))
    return after if after == before else None


def test_a_failed_task_shows_its_trace_and_restarts(
    api: httpx.Client, streamlog_bootstrap: str, streamlog_topic_factory: Callable[..., str]
) -> None:
    topic = streamlog_topic_factory()
    api.post(
        "/connectors",
        json={"name": "flaky", "config": source(topic, records=4, fail_at=2, fail_times=1, batch_size=1)},
    )
    wait_state(api, "flaky", ("RUNNING", ["FAILED"]))
    task = api.get("/connectors/flaky/tasks/0/status").json()
    assert task["state"] == "FAILED" and "toy source failing at position 2" in task["trace"]

    restarted = api.post("/connectors/flaky/restart", params={"includeTasks": "true", "onlyFailed": "true"})
    assert restarted.status_code == 202
    wait_state(api, "flaky", ("RUNNING", ["RUNNING"]))
    assert wait_for(
        lambda: sorted(set(numbers(streamlog_bootstrap, topic))) == [0, 1, 2, 3], 30, "every record"
    )
    assert "trace" not in api.get("/connectors/flaky/tasks/0/status").json()


def test_put_config_creates_updates_and_refuses(
    api: httpx.Client, streamlog_bootstrap: str, streamlog_topic_factory: Callable[..., str]
) -> None:
    first, second = streamlog_topic_factory(), streamlog_topic_factory()
    created = api.put("/connectors/moving/config", json=source(first, records=3))
    assert created.status_code == 201 and created.json()["config"]["topic"] == first
    wait_for(lambda: numbers(streamlog_bootstrap, first) == [0, 1, 2], 30, "records in the first topic")
    updated = api.put("/connectors/moving/config", json=source(second, records=3))
    assert updated.status_code == 200 and updated.json()["config"]["topic"] == second
    assert api.get("/connectors/moving/config").json()["topic"] == second
    wait_state(api, "moving", ("RUNNING", ["RUNNING"]))

    unknown = api.post(
        "/connectors", json={"name": "bad", "config": {**source(first), "no.such.option": "1"}}
    )
    assert unknown.status_code == 400 and "no.such.option" in unknown.json()["message"]
    unsupported = api.put("/connectors/bad/config", json={**source(first), "snapshot.mode": "initial"})
    assert (
        unsupported.status_code == 400 and "the toy source has no snapshot" in unsupported.json()["message"]
    )
    no_class = api.post("/connectors", json={"name": "bad", "config": {"topic": first}})
    assert no_class.status_code == 400
    assert api.get("/connectors").json() == ["moving"]


def test_plugins_and_validate(api: httpx.Client) -> None:
    plugins = api.get("/connector-plugins").json()
    assert {"class": "toy-source", "type": "source", "version": "0.1.0"} in plugins
    assert {"class": "toy-sink", "type": "sink", "version": "0.1.0"} in plugins
    assert {p["type"] for p in plugins} == {"source", "sink"}
    everything = api.get("/connector-plugins", params={"connectorsOnly": "false"}).json()
    assert any(p["class"] == "outbox-router" and p["type"] == "transformation" for p in everything)

    good = api.put(
        "/connector-plugins/toy-source/config/validate", json={"name": "v", "topic": "t", "records": "5"}
    )
    assert good.status_code == 200 and good.json()["name"] == "toy-source" and good.json()["error_count"] == 0
    bad = api.put(
        "/connector-plugins/toy-source/config/validate", json={"name": "v", "topic": "t", "records": "many"}
    )
    body = bad.json()
    assert bad.status_code == 200 and body["error_count"] == 1
    records = next(c for c in body["configs"] if c["definition"]["name"] == "records")
    assert records["value"]["errors"] and "many" in records["value"]["errors"][0]
    unknown = api.put("/connector-plugins/no-such-plugin/config/validate", json={})
    assert unknown.status_code == 400 and "no-such-plugin" in unknown.json()["message"]


def test_sink_offsets(
    api: httpx.Client, streamlog_bootstrap: str, streamlog_topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    topic = streamlog_topic_factory()
    producer = Producer({"bootstrap.servers": streamlog_bootstrap})
    for n in range(3):
        producer.produce(topic, key=str(n).encode(), value=json.dumps({"n": n}).encode())
    assert producer.flush(10) == 0
    database = tmp_path / "sink.db"
    config = {"connector.class": "toy-sink", "topics": topic, "sqlite.path": str(database), **JSON_VALUES}
    assert api.post("/connectors", json={"name": "sink", "config": config}).json()["type"] == "sink"

    def applied() -> bool:
        if not database.exists():
            return False
        with sqlite3.connect(database) as db:
            try:
                return db.execute("SELECT count(*) FROM records").fetchone()[0] == 3
            except sqlite3.OperationalError:
                return False

    wait_for(applied, 30, "3 rows in the sink's database")
    assert wait_for(
        lambda: (
            api.get("/connectors/sink/offsets").json()
            == {
                "offsets": [
                    {"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 3}}
                ]
            }
        ),
        30,
        "the sink's committed offset",
    )
