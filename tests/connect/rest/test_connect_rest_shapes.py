"""The REST API's routing, status codes and error bodies over a real socket, with a fake worker.

Theory of operation: `FakeWorker` keeps connectors in a dict and answers as the real worker's
methods do, so each route's status code, body shape and error wording (Kafka Connect's) is checked
without a broker; what the routes do to running connectors is test_connect_rest.py's, against the
real worker and broker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from streamlog.connect.api import ConnectError
from streamlog.connect.runtime import rest_shapes
from streamlog.connect.runtime.rest import ConnectRestServer, parse_listen
from streamlog.connect.runtime.states import State
from streamlog.connect.runtime.worker import ConnectorStatus, TaskStatus


@dataclass
class FakeWorker:
    configs: dict[str, dict[str, str]] = field(default_factory=dict)
    states: dict[str, State] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def add_connector(self, config: Mapping[str, str]) -> None:
        time.sleep(0.02)  # as a real worker takes a moment: a window for racing requests
        if "connector.class" not in config:
            raise ConnectError("Connector config {...} contains no connector type")
        if config["name"] in self.configs:
            raise ConnectError("duplicate")
        self.configs[config["name"]] = dict(config)
        self.states[config["name"]] = State.RUNNING

    def delete_connector(self, name: str) -> None:
        del self.configs[name]

    def put_config(self, name: str, config: Mapping[str, str]) -> None:
        self.configs[name] = dict(config)

    def config(self, name: str) -> Mapping[str, str]:
        return self.configs[name]

    def connectors(self) -> list[str]:
        return list(self.configs)

    def pause(self, name: str) -> None:
        self.states[name] = State.PAUSED

    def resume(self, name: str) -> None:
        self.states[name] = State.RUNNING

    def stop_connector(self, name: str) -> None:
        self.states[name] = State.STOPPED

    def restart(self, name: str, include_tasks: bool = False, only_failed: bool = False) -> None:
        self.calls.append(("restart", name, include_tasks, only_failed))

    def restart_task(self, name: str, task_id: int) -> None:
        self.calls.append(("restart_task", name, task_id))

    def status(self, name: str) -> ConnectorStatus:
        count = int(self.configs[name].get("tasks.max", "1"))
        failing = self.configs[name].get("fail") == "true"
        state = State.FAILED if failing else self.states[name]
        trace = "Traceback...\nValueError: boom" if failing else None
        tasks = tuple(TaskStatus(i, state, "w", trace) for i in reversed(range(count)))
        return ConnectorStatus(name, self.states[name], "w", "source", tasks)

    def offsets(self, name: str) -> dict[str, list[dict[str, Any]]]:
        return {"offsets": [{"partition": {"server": name}, "offset": {"lsn": 42}}]}

    def plugins(self) -> list[tuple[str, str, str]]:
        return [
            ("toy-source", "source", "1.0"),
            ("toy-sink", "sink", "1.0"),
            ("outbox-router", "transformation", "1.0"),
        ]

    def validate(self, plugin_class: str, config: Mapping[str, str]) -> dict[str, Any]:
        return {"name": plugin_class, "error_count": 0, "groups": [], "configs": []}


@pytest.fixture
def api() -> Iterator[tuple[httpx.Client, FakeWorker]]:
    worker = FakeWorker()
    server = ConnectRestServer(worker, "127.0.0.1:0", cluster_id=lambda: "cluster-1")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client, worker
    finally:
        server.stop()


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == status
    return str(body["message"])


def test_root_and_create_answer_as_kafka_connect(api: tuple[httpx.Client, FakeWorker]) -> None:
    client, _worker = api
    root = client.get("/").json()
    assert set(root) == {"version", "commit", "kafka_cluster_id"} and root["kafka_cluster_id"] == "cluster-1"

    created = client.post(
        "/connectors", json={"name": "a", "config": {"connector.class": "toy", "tasks.max": 2}}
    )
    assert created.status_code == 201 and created.headers["location"] == "/connectors/a"
    assert created.json() == {
        "name": "a",
        "config": {"connector.class": "toy", "tasks.max": "2", "name": "a"},
        "tasks": [{"connector": "a", "task": 0}, {"connector": "a", "task": 1}],
        "type": "source",
    }
    assert (
        _error(client.post("/connectors", json={"name": "a", "config": {"connector.class": "toy"}}), 409)
        == "Connector a already exists"
    )
    assert client.get("/connectors").json() == ["a"]
    expanded = client.get("/connectors", params=[("expand", "status"), ("expand", "info")]).json()
    assert set(expanded["a"]) == {"status", "info"}
    assert expanded["a"]["status"]["connector"]["state"] == "RUNNING"
    assert client.get("/connectors/a/tasks").json()[1]["id"] == {"connector": "a", "task": 1}


def test_put_config_creates_then_updates(api: tuple[httpx.Client, FakeWorker]) -> None:
    client, worker = api
    assert client.put("/connectors/b/config", json={"connector.class": "toy"}).status_code == 201
    updated = client.put("/connectors/b/config", json={"connector.class": "toy", "topic": "t"})
    assert updated.status_code == 200 and updated.json()["config"]["topic"] == "t"
    assert worker.configs["b"] == {"connector.class": "toy", "topic": "t", "name": "b"}
    message = _error(client.put("/connectors/b/config", json={"connector.class": "toy", "name": "c"}), 400)
    assert message == "Connector name configuration (c) doesn't match connector name in the URL (b)"


def test_control_routes_and_their_codes(api: tuple[httpx.Client, FakeWorker]) -> None:
    client, worker = api
    client.post("/connectors", json={"name": "a", "config": {"connector.class": "toy", "fail": "true"}})
    assert client.put("/connectors/a/pause").status_code == 202 and worker.states["a"] == "PAUSED"
    assert client.put("/connectors/a/resume").status_code == 202 and worker.states["a"] == "RUNNING"
    assert client.put("/connectors/a/stop").status_code == 204 and worker.states["a"] == "STOPPED"
    assert client.post("/connectors/a/restart").status_code == 204
    restarted = client.post("/connectors/a/restart", params={"includeTasks": "true", "onlyFailed": "true"})
    assert restarted.status_code == 202 and restarted.json()["name"] == "a"
    assert client.post("/connectors/a/tasks/0/restart").status_code == 204
    assert worker.calls == [
        ("restart", "a", False, False),
        ("restart", "a", True, True),
        ("restart_task", "a", 0),
    ]
    task = client.get("/connectors/a/tasks/0/status").json()
    assert task["state"] == "FAILED" and task["trace"].endswith("ValueError: boom") and task["id"] == 0
    assert client.get("/connectors/a/offsets").json() == {
        "offsets": [{"partition": {"server": "a"}, "offset": {"lsn": 42}}]
    }
    assert client.delete("/connectors/a").status_code == 204 and worker.configs == {}


def test_errors_are_kafka_connects_shape(api: tuple[httpx.Client, FakeWorker]) -> None:
    client, _worker = api
    for method, path in (
        ("GET", "/connectors/x"),
        ("GET", "/connectors/x/config"),
        ("GET", "/connectors/x/status"),
        ("GET", "/connectors/x/tasks"),
        ("PUT", "/connectors/x/pause"),
        ("PUT", "/connectors/x/resume"),
        ("PUT", "/connectors/x/stop"),
        ("POST", "/connectors/x/restart"),
        ("DELETE", "/connectors/x"),
        ("GET", "/connectors/x/offsets"),
    ):
        assert _error(client.request(method, path), 404) == "Connector x not found"
    client.post("/connectors", json={"name": "a", "config": {"connector.class": "toy"}})
    assert _error(client.get("/connectors/a/tasks/7/status"), 404) == "Task a-7 not found"
    assert _error(client.post("/connectors/a/tasks/zero/restart"), 404) == "Task a-zero not found"
    assert _error(client.post("/connectors", json={"name": "b", "config": {}}), 400) == (
        "Connector config {...} contains no connector type"
    )
    assert "not JSON" in _error(client.post("/connectors", content=b"{nope"), 400)
    assert _error(client.post("/connectors", json={"config": {}}), 400).startswith(
        "Connector name must be given"
    )
    assert _error(client.post("/connectors/a/restart", params={"includeTasks": "maybe"}), 400).startswith(
        "query parameter includeTasks='maybe'"
    )
    assert _error(client.get("/nowhere"), 404) == "HTTP 404 Not Found"
    assert _error(client.delete("/connectors"), 405) == "HTTP 405 Method Not Allowed"


def test_plugins_and_validate(api: tuple[httpx.Client, FakeWorker]) -> None:
    client, _worker = api
    assert [p["class"] for p in client.get("/connector-plugins").json()] == ["toy-sink", "toy-source"]
    everything = client.get("/connector-plugins", params={"connectorsOnly": "false"}).json()
    assert {"class": "outbox-router", "type": "transformation", "version": "1.0"} in everything
    valid = client.put(
        "/connector-plugins/toy-source/config/validate", json={"connector.class": "toy-source"}
    )
    assert valid.status_code == 200 and valid.json()["error_count"] == 0
    assert (
        _error(
            client.put("/connector-plugins/toy-source/config/validate", json={"connector.class": "other"}),
            400,
        )
        == "Included connector type other does not match request type toy-source"
    )


def test_a_failing_worker_is_a_500_without_traceback(api: tuple[httpx.Client, FakeWorker]) -> None:
    client, worker = api
    worker.configs["a"] = {"connector.class": "toy"}  # no state: status() raises KeyError
    message = _error(client.get("/connectors/a/status"), 500)
    assert message.startswith("KeyError") and "Traceback" not in message


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8083") == ("127.0.0.1", 8083)
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("8083", "host:", "host:99999"):
        with pytest.raises(ValueError, match="bad listen address"):
            parse_listen(bad)


def test_shapes_of_a_failed_connector() -> None:
    status = ConnectorStatus(
        "n",
        State.FAILED,
        "host:connect",
        "sink",
        (TaskStatus(1, State.RUNNING, "host:connect"), TaskStatus(0, State.FAILED, "h", "boom")),
        "ConnectError: no",
    )
    assert rest_shapes.connector_state("n", status, "w:1") == {
        "name": "n",
        "connector": {"state": "FAILED", "worker_id": "w:1", "trace": "ConnectError: no"},
        "tasks": [
            {"id": 0, "state": "FAILED", "worker_id": "w:1", "trace": "boom"},
            {"id": 1, "state": "RUNNING", "worker_id": "w:1"},
        ],
        "type": "sink",
    }
    assert rest_shapes.connector_info("n", {"name": "n"}, status)["tasks"] == [
        {"connector": "n", "task": 0},
        {"connector": "n", "task": 1},
    ]


def test_concurrent_creates_of_one_name_give_one_201_and_409s(api: tuple[httpx.Client, FakeWorker]) -> None:
    client, worker = api
    body = {"name": "same", "config": {"connector.class": "toy"}}
    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(lambda _i: client.post("/connectors", json=body).status_code, range(16)))
    assert codes == [201] + [409] * 15 and worker.connectors() == ["same"]
