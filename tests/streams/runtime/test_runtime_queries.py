"""Interactive queries: composite views over a runtime's tasks, `instance_for`, the HTTP endpoint.

The first part drives `QueryService` over hand-built tasks (in-memory stores filled by hand, a fake
admin client describing the group), so every routing and merge rule is checked without a broker.
The second part runs two instances of one app against the test broker and queries both, in Python
and over HTTP.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient
from tests.streams.runtime.conftest import AppFactory, TopicFactory
from tests.support.streams_runtime import produce, read_topic, running, wait_for, wait_for_outputs

from streamlog.streams import App, SessionWindows, TimeWindows, Windowed, serdes
from streamlog.streams.record import TaskId
from streamlog.streams.runtime import StreamsRunner
from streamlog.streams.runtime.errors import FatalRuntimeError
from streamlog.streams.runtime.queries import (
    InvalidStateStoreError,
    KeyQueryMetadata,
    QueryService,
    StreamsNotStartedError,
    UnknownStateStoreError,
    default_partition,
)
from streamlog.streams.runtime.query_server import build_app
from streamlog.streams.runtime.tasks import ActiveTask, TaskState
from streamlog.streams.state import InMemoryKeyValueStore, SessionStore, WindowStore, wrap_store
from streamlog.streams.testing import TestDriver

PARTITIONS = 3


def counting_app(application_id: str = "q", **kwargs: Any) -> App:
    app = App(application_id, store="memory", **kwargs)
    (app.stream("in", key_serde=serdes.STRING, value_serde=serdes.STRING)
        .group_by_key().count(name="counts")
        .to_stream().to("out", value_serde=serdes.INT64))
    app.global_table("regions", key_serde=serdes.STRING, value_serde=serdes.STRING, name="regions")
    return app


def partition_of(key: str, partitions: int = PARTITIONS) -> int:
    return default_partition(key.encode(), partitions)


class Group:
    """A fake admin client: `describe_consumer_groups` answers the members it is given."""

    def __init__(self) -> None:
        self.members: list[SimpleNamespace] = []
        self.calls = 0

    def member(self, member_id: str, client_id: str, partitions: list[int]) -> None:
        assignment = SimpleNamespace(topic_partitions=[SimpleNamespace(topic="in", partition=p)
                                                       for p in partitions])
        self.members.append(SimpleNamespace(member_id=member_id, client_id=client_id, assignment=assignment))

    def describe_consumer_groups(self, groups: list[str], request_timeout: float) -> dict[str, Any]:
        self.calls += 1
        result = SimpleNamespace(result=lambda timeout: SimpleNamespace(members=list(self.members)))
        return {groups[0]: result}


class Runtime:
    """A QueryService over hand-made tasks: partitions `local` of "counts" run here."""

    def __init__(self, local: list[int], *, state: str = "RUNNING", standbys: int = 0) -> None:
        self.app = counting_app(num_standby_replicas=standbys)
        self.topology = self.app.topology()
        self.state = state
        self.group = Group()
        self.service = QueryService(self.topology, self.app.config, lock=threading.Lock(),
                                    state=lambda: self.state)
        self.service.endpoint = "me:1"
        self.tasks = SimpleNamespace(tasks={})
        for partition in local:
            active = ActiveTask(TaskId(0, partition), {("in", partition)}, state=TaskState.RUNNING,
                                stores={"counts": InMemoryKeyValueStore("counts")}, task=object())  # type: ignore[arg-type]
            self.tasks.tasks[active.task_id] = active
        self.regions = InMemoryKeyValueStore("regions")
        self.service.attach(tasks=self.tasks, global_stores={"regions": self.regions},  # type: ignore[arg-type]
                            partitions={"in": PARTITIONS, "regions": 1}, admin=self.group,
                            member_id=lambda: "m-me")

    def put(self, key: str, count: int, partition: int | None = None) -> None:
        p = partition_of(key) if partition is None else partition
        store = self.tasks.tasks[TaskId(0, p)].stores["counts"]
        store.put(key.encode(), count.to_bytes(8, "big", signed=True))


def keys_in(partition: int, count: int) -> list[str]:
    found = [k for k in (f"k{i}" for i in range(200)) if partition_of(k) == partition]
    return found[:count]


# --- composite key-value views -----------------------------------------------------------------------

def test_get_reads_the_keys_partition_and_none_for_an_absent_key() -> None:
    rt = Runtime([0, 1, 2])
    for p in range(PARTITIONS):
        for i, key in enumerate(keys_in(p, 2)):
            rt.put(key, 10 * p + i)
    view = rt.service.store("counts")
    for p in range(PARTITIONS):
        first, second = keys_in(p, 2)
        assert (view.get(first), view.get(second)) == (10 * p, 10 * p + 1)
    assert view.get("nobody") is None
    assert view.approximate_num_entries() == 6


def test_get_finds_a_key_another_partitioner_placed() -> None:
    rt = Runtime([0, 1, 2])
    key = keys_in(0, 1)[0]
    rt.put(key, 7, partition=2)  # where a producer with another partitioner put it
    assert rt.service.store("counts").get(key) == 7


def test_range_and_all_merge_the_tasks_in_key_byte_order() -> None:
    rt = Runtime([0, 1, 2])
    keys = ["a", "b", "c", "d", "e", "f", "g", "h", "ab", "B"]
    assert len({partition_of(k) for k in keys}) == PARTITIONS  # spread over every task
    for n, key in enumerate(keys):
        rt.put(key, n)
    view = rt.service.store("counts")
    expected = sorted((k, keys.index(k)) for k in keys)  # str order is UTF-8 byte order here
    assert list(view.all()) == expected
    assert list(view.range("ab", "e")) == [("ab", 8), ("b", 1), ("c", 2), ("d", 3), ("e", 4)]
    assert list(view.reverse_range("ab", "e")) == [("e", 4), ("d", 3), ("c", 2), ("b", 1), ("ab", 8)]
    assert list(view.reverse_all()) == expected[::-1]
    assert list(view.prefix_scan("a")) == [("a", 0), ("ab", 8)]


def test_scans_read_in_chunks_across_many_keys() -> None:
    rt = Runtime([0, 1, 2])
    keys = [f"key-{i:05d}" for i in range(1500)]  # several chunks per task
    for n, key in enumerate(keys):
        rt.put(key, n)
    assert [k for k, _ in rt.service.store("counts").all()] == keys
    assert [v for _, v in rt.service.store("counts").range("key-00100", "key-00102")] == [100, 101, 102]


def test_the_same_reads_as_the_test_driver() -> None:
    """Assertions written against `TestDriver.store` hold for the running app's view."""
    records = [("alice", "x"), ("bob", "y"), ("alice", "z"), ("carol", "w"), ("bob", "v"), ("alice", "u")]

    def check(store: Any) -> None:
        assert store.get("alice") == 3
        assert store.get("dave") is None
        assert list(store.range("b", "c")) == [("bob", 2)]
        assert list(store.all()) == [("alice", 3), ("bob", 2), ("carol", 1)]
        assert list(store.reverse_all()) == [("carol", 1), ("bob", 2), ("alice", 3)]
        assert store.approximate_num_entries() == 3
        assert store.name == "counts"

    with TestDriver(counting_app()) as driver:
        for key, value in records:
            driver.pipe("in", key, value)
        check(driver.store("counts"))
    rt = Runtime([0, 1, 2])
    counts: dict[str, int] = {}
    for key, _ in records:
        counts[key] = counts.get(key, 0) + 1
    for key, count in counts.items():
        rt.put(key, count)
    check(rt.service.store("counts"))


def test_global_store_reads() -> None:
    rt = Runtime([0])
    rt.regions.put(b"eu", b"Europe")
    rt.regions.put(b"us", b"United States")
    view = rt.service.store("regions")
    assert view.get("eu") == "Europe"
    assert list(view.all()) == [("eu", "Europe"), ("us", "United States")]
    assert rt.service.instance_for("regions", "eu") == KeyQueryMetadata("regions", None, "me:1", True)


def windowed_service() -> tuple[QueryService, dict[int, dict[str, Any]]]:
    """A service over two tasks of a windowed count ("minutes") and a session count ("sessions")."""
    app = App("w", store="memory")
    grouped = app.stream("in", key_serde=serdes.STRING, value_serde=serdes.STRING).group_by_key()
    grouped.windowed_by(TimeWindows(size_ms=10, grace_ms=100)).count(name="minutes")
    app.stream("in2", key_serde=serdes.STRING, value_serde=serdes.STRING).group_by_key() \
        .windowed_by(SessionWindows(inactivity_gap_ms=5, grace_ms=100)).count(name="sessions")
    topology = app.topology()
    service = QueryService(topology, app.config, lock=threading.Lock(), state=lambda: "RUNNING")
    tasks = SimpleNamespace(tasks={})
    writers: dict[int, dict[str, Any]] = {}
    for name in ("minutes", "sessions"):
        spec = topology.stores[name]
        for partition in range(2):
            inner = wrap_store(spec, InMemoryKeyValueStore(name))
            active = ActiveTask(TaskId(spec.subtopology, partition), set(), state=TaskState.RUNNING,
                                stores={name: inner}, task=object())  # type: ignore[arg-type]
            tasks.tasks[active.task_id] = active
            typed = (WindowStore(inner, spec.key_serde, spec.value_serde, name, spec.window_size_ms)  # type: ignore[arg-type]
                     if name == "minutes" else SessionStore(inner, spec.key_serde, spec.value_serde, name))  # type: ignore[arg-type]
            writers.setdefault(partition, {})[name] = typed
    service.attach(tasks=tasks, global_stores={}, partitions={"in": 2, "in2": 2}, admin=None,  # type: ignore[arg-type]
                   member_id=lambda: None)
    return service, writers


def test_window_store_reads_route_and_merge() -> None:
    service, writers = windowed_service()
    keys = {p: [k for k in "abcdef" if default_partition(k.encode(), 2) == p] for p in (0, 1)}
    assert keys[0] and keys[1]
    for partition, owned in keys.items():
        for key in owned:
            writers[partition]["minutes"].put(key, ord(key), 0)
            writers[partition]["minutes"].put(key, ord(key) + 100, 10)
    view = service.store("minutes")
    assert list(view.fetch("c", 0, 10)) == [(0, 99), (10, 199)]
    assert list(view.backward_fetch("c", 0, 10)) == [(10, 199), (0, 99)]
    assert view.fetch("e", 10) == 201
    assert view.fetch("zz", 10) is None and list(view.fetch("zz", 0, 100)) == []
    assert [(w.key, w.start, w.end, v) for w, v in view.fetch_all(5, 10)] == [
        (k, 10, 20, ord(k) + 100) for k in "abcdef"]
    assert [(w.key, w.start) for w, _ in view.all()] == [(k, t) for k in "abcdef" for t in (0, 10)]


def test_session_store_reads_route_and_merge() -> None:
    service, writers = windowed_service()
    for key in ("a", "b", "c"):
        partition = default_partition(key.encode(), 2)
        writers[partition]["sessions"].put(Windowed(key, 0, 3), 2)
        writers[partition]["sessions"].put(Windowed(key, 20, 20), 1)
    view = service.store("sessions")
    assert list(view.fetch("b")) == [(Windowed("b", 0, 3), 2), (Windowed("b", 20, 20), 1)]
    assert list(view.find_sessions("b", 4, 30)) == [(Windowed("b", 20, 20), 1)]
    assert view.fetch_session("c", 0, 3) == 2
    assert list(view.fetch("nobody")) == []
    assert [w for w, _ in view.all()] == [Windowed(k, s, e) for k in "abc" for s, e in ((0, 3), (20, 20))]


# --- errors ------------------------------------------------------------------------------------------

def test_unknown_store_names_the_stores() -> None:
    with pytest.raises(UnknownStateStoreError, match=r"no state store 'count' .*\['counts', 'regions'\]"):
        Runtime([0]).service.store("count")


@pytest.mark.parametrize(("state", "error", "text"), [
    ("CREATED", StreamsNotStartedError, "has not started"),
    ("PENDING_SHUTDOWN", InvalidStateStoreError, r"not running \(state PENDING_SHUTDOWN\)"),
    ("NOT_RUNNING", InvalidStateStoreError, r"not running \(state NOT_RUNNING\)"),
    ("ERROR", InvalidStateStoreError, r"not running \(state ERROR\)"),
])
def test_reads_need_a_running_app(state: str, error: type[Exception], text: str) -> None:
    rt = Runtime([0, 1, 2])
    view = rt.service.store("counts")  # taken while running
    rt.state = state
    with pytest.raises(error, match=text):
        view.get("a")
    with pytest.raises(error, match=text):
        rt.service.store("counts")


def test_reads_during_a_rebalance_are_allowed() -> None:
    rt = Runtime([0, 1, 2], state="REBALANCING")
    rt.put("a", 1)
    assert rt.service.store("counts").get("a") == 1


def test_app_store_before_the_start() -> None:
    app = counting_app()
    with pytest.raises(StreamsNotStartedError, match="'q' is not running"):
        app.store("counts")
    with pytest.raises(InvalidStateStoreError):
        app.instance_for("counts", "a")


def test_a_restoring_task_is_not_read() -> None:
    rt = Runtime([0, 1, 2])
    restoring_key, other_key = keys_in(1, 1)[0], keys_in(2, 1)[0]
    rt.put(restoring_key, 1)
    rt.put(other_key, 2)
    rt.tasks.tasks[TaskId(0, 1)].state = TaskState.RESTORING
    view = rt.service.store("counts")
    with pytest.raises(InvalidStateStoreError, match="task 0_1, which holds the key's partition, is restor"):
        view.get(restoring_key)
    assert view.get(other_key) == 2  # other tasks answer
    with pytest.raises(InvalidStateStoreError, match="tasks 0_1 are restoring"):
        list(view.all())


def test_no_local_task_of_the_store() -> None:
    rt = Runtime([])
    with pytest.raises(InvalidStateStoreError, match="'counts' has no task on this instance"):
        rt.service.store("counts").get("a")


def test_a_task_closed_during_a_scan() -> None:
    rt = Runtime([0, 1, 2])
    for i in range(2000):
        rt.put(f"key-{i:05d}", i)
    scan = rt.service.store("counts").all()
    assert next(scan)[0] == "key-00000"
    closed = rt.tasks.tasks[TaskId(0, 0)]
    closed.stores["counts"].close()
    closed.stores = {}  # what TaskManager._close leaves
    with pytest.raises(InvalidStateStoreError, match="closed while it was read"):
        list(scan)


def test_scans_and_writes_from_two_threads() -> None:
    """The processing thread inserts and deletes while a query scans: every scan is ordered."""
    rt = Runtime([0, 1, 2])
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        n = 0
        while not stop.is_set():
            rt.put(f"k{n % 3000:05d}", n)
            key = f"k{(n * 7) % 3000:05d}"
            store = rt.tasks.tasks[TaskId(0, partition_of(key))].stores["counts"]
            store.delete(key.encode())
            n += 1

    writer = threading.Thread(target=write)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: races show within the test's time
    writer.start()
    try:
        deadline = time.monotonic() + 1.5
        scans = 0
        while time.monotonic() < deadline:
            keys = [k for k, _ in rt.service.store("counts").range("k00100", "k02900")]
            assert keys == sorted(set(keys)), "a scan saw keys out of order or twice"
            assert all("k00100" <= k <= "k02900" for k in keys)
            scans += 1
        assert scans > 5
    except BaseException as exc:
        errors.append(exc)
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(switch)
    assert not errors, errors


# --- where keys live ---------------------------------------------------------------------------------

def test_instance_for_a_local_key_needs_no_group_description() -> None:
    rt = Runtime([0, 1, 2])
    key = keys_in(1, 1)[0]
    assert rt.service.instance_for("counts", key) == KeyQueryMetadata("counts", 1, "me:1", True)
    assert rt.group.calls == 0


def test_instance_for_a_key_of_another_instance() -> None:
    rt = Runtime([0])
    rt.group.member("m-me", "q-abc-consumer@me:1", [0])
    rt.group.member("m-other", "q-def-consumer@other.example:8080", [1])
    rt.group.member("m-third", "q-ghi-consumer", [2])  # serves no endpoint
    key1, key2 = keys_in(1, 1)[0], keys_in(2, 1)[0]
    other = KeyQueryMetadata("counts", 1, "other.example:8080", False)
    assert rt.service.instance_for("counts", key1) == other
    assert rt.service.instance_for("counts", key2) == KeyQueryMetadata("counts", 2, None, False)
    assert rt.group.calls == 1  # cached
    instances = {(i.endpoint, i.is_local, i.tasks) for i in rt.service.instances()}
    assert instances == {("me:1", True, (TaskId(0, 0),)), ("other.example:8080", False, (TaskId(0, 1),)),
                         (None, False, (TaskId(0, 2),))}


def test_instance_for_with_a_partitioner_and_standbys() -> None:
    rt = Runtime([0], standbys=1)
    rt.group.member("m-a", "x@a:1", [1])
    rt.group.member("m-b", "x@b:2", [2])
    rt.group.member("m-me", "x@me:1", [0])
    # standbys are the next member in member-id order after the owner (standby.py)
    assert rt.service.instance_for("counts", "any", lambda key, n: 1) == KeyQueryMetadata(
        "counts", 1, "a:1", False, ("b:2",))
    assert rt.service.instance_for("counts", "any", lambda key, n: 0) == KeyQueryMetadata(
        "counts", 0, "me:1", True, ("a:1",))
    with pytest.raises(ValueError, match="partitioner returned 3"):
        rt.service.instance_for("counts", "any", lambda key, n: 3)


def test_instance_for_a_partition_nobody_holds() -> None:
    rt = Runtime([0])
    rt.group.member("m-me", "x@me:1", [0])
    with pytest.raises(InvalidStateStoreError, match="no instance holds partition 2"):
        rt.service.instance_for("counts", keys_in(2, 1)[0])
    assert rt.group.calls == 2  # the cached description was read again before giving up


# --- the HTTP endpoint over the fake runtime ---------------------------------------------------------

@pytest.fixture
def http() -> Iterator[tuple[Runtime, TestClient]]:
    rt = Runtime([0, 1])
    rt.group.member("m-me", "q-consumer@me:1", [0, 1])
    rt.group.member("m-other", "q-consumer@other:2", [2])
    with TestClient(build_app(rt.service)) as client:
        yield rt, client


def test_http_reads(http: tuple[Runtime, TestClient]) -> None:
    rt, client = http
    local = keys_in(0, 1)[0]
    rt.put(local, 5)
    rt.put("a/b", 6, partition=0)
    assert client.get(f"/stores/counts/keys/{local}").json() == {"store": "counts", "key": local, "value": 5}
    assert client.get("/stores/counts/keys/a%2Fb").json()["value"] == 6
    assert client.get("/stores/counts/keys/a/b").json()["value"] == 6
    assert client.get("/stores/counts/all").json() == {
        "store": "counts", "entries": [{"key": "a/b", "value": 6}, {"key": local, "value": 5}],
        "truncated": False}
    assert client.get("/stores/counts/all?limit=1").json()["truncated"] is True
    assert client.get("/stores/counts/range?from=b").json()["entries"] == [{"key": local, "value": 5}]
    stores = client.get("/stores").json()["stores"]
    assert stores == [
        {"name": "counts", "key_serde": "STRING", "value_serde": "INT64", "type": "key-value",
         "global": False, "local_partitions": [0, 1]},
        {"name": "regions", "key_serde": "STRING", "value_serde": "STRING", "type": "key-value",
         "global": True}]
    assert client.get("/").json() == {"application_id": "q", "state": "RUNNING", "endpoint": "me:1"}


def test_http_errors(http: tuple[Runtime, TestClient]) -> None:
    rt, client = http
    remote = keys_in(2, 1)[0]
    answer = client.get(f"/stores/counts/keys/{remote}?x=1")
    assert answer.status_code == 404
    assert answer.json() == {
        "error": f"key '{remote}' of state store 'counts' is held by another instance", "store": "counts",
        "key": remote, "partition": 2, "active": "other:2", "standbys": [],
        "url": f"http://other:2/stores/counts/keys/{remote}?x=1"}
    absent = keys_in(0, 1)[0]
    assert client.get(f"/stores/counts/keys/{absent}").status_code == 404
    assert "no value for key" in client.get(f"/stores/counts/keys/{absent}").json()["error"]
    unknown = client.get("/stores/nope/all")
    assert (unknown.status_code, unknown.json()["stores"]) == (404, ["counts", "regions"])
    assert client.get("/stores/counts/all?limit=0").status_code == 400
    assert client.get(f"/stores/counts/keys/{absent}/windows").status_code == 400
    assert client.get("/instances/counts/" + remote).json() == {
        "store": "counts", "key": remote, "partition": 2, "active": "other:2", "standbys": [], "local": False}
    rt.tasks.tasks[TaskId(0, 0)].state = TaskState.RESTORING
    restoring = client.get(f"/stores/counts/keys/{absent}")
    assert restoring.status_code == 503 and "restoring" in restoring.json()["error"]
    rt.state = "NOT_RUNNING"
    assert client.get("/stores/counts/all").status_code == 503


def test_a_taken_query_port_stops_the_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        app = counting_app(state_dir=tmp_path, query_listen=f"127.0.0.1:{port}",
                           bootstrap_servers="127.0.0.1:1")  # never reached: the port is checked first
        runner = StreamsRunner(app)
        with pytest.raises(FatalRuntimeError, match=f"cannot serve interactive queries on 127.0.0.1:{port} "
                                                    r"\(query_listen\)"):
            runner.run()
    assert runner.state == "ERROR"
    with pytest.raises(StreamsNotStartedError):
        app.store("counts")


# --- against the broker: two instances ---------------------------------------------------------------

def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_two_instances_answer_for_their_keys(app_factory: AppFactory, streamlog_bootstrap: str,
                                             streamlog_topic_factory: TopicFactory) -> None:
    source = streamlog_topic_factory(partitions=2)
    sink = streamlog_topic_factory(partitions=2)

    def build(instance: str) -> App:
        app = app_factory(instance=instance, store="memory", query_listen="127.0.0.1:0")
        (app.stream(source, key_serde=serdes.STRING, value_serde=serdes.STRING)
            .group_by_key().count(name="counts")
            .to_stream().to(sink, value_serde=serdes.INT64))
        return app

    keys = [f"user-{i}" for i in range(12)]
    expected = {k: i % 3 + 1 for i, k in enumerate(keys)}
    produce(streamlog_bootstrap, source, [(k.encode(), b"v") for k in keys for _ in range(expected[k])])
    with running(build("a")) as a, running(build("b"), wait=False) as b:
        wait_for(lambda: len(a.running_tasks()) == 1 and len(b.running_tasks()) == 1, 60, "one task each")
        wait_for_outputs(streamlog_bootstrap, sink, {k.encode(): n for k, n in expected.items()})
        # where the broker put each key: the changelog partition of its task
        changelog = read_topic(streamlog_bootstrap, f"{a.app.application_id}-counts-changelog")
        placed = {r.key.decode(): r.partition for r in changelog if r.key is not None}
        assert set(placed) == set(keys) and set(placed.values()) == {0, 1}
        runners = {a.running_tasks()[0].partition: a, b.running_tasks()[0].partition: b}
        endpoints = {p: r.queries.endpoint for p, r in runners.items()}
        assert all(e is not None and e.startswith("127.0.0.1:") for e in endpoints.values())
        for key in keys:
            owner = placed[key]
            for runner in (a, b):
                meta = runner.app.instance_for("counts", key)
                is_owner = runner is runners[owner]
                assert meta == KeyQueryMetadata("counts", owner, endpoints[owner], is_owner)
                assert runner.app.store("counts").get(key) == (expected[key] if is_owner else None)
        for partition, runner in runners.items():
            mine = sorted((k, n) for k, n in expected.items() if placed[k] == partition)
            assert list(runner.app.store("counts").all()) == mine
            status, body = _get(f"http://{endpoints[partition]}/stores/counts/all")
            assert status == 200 and body["entries"] == [{"key": k, "value": n} for k, n in mine]
        key = next(k for k in keys if placed[k] == 1)
        status, body = _get(f"http://{endpoints[0]}/stores/counts/keys/{key}")
        assert (status, body["active"], body["partition"]) == (404, endpoints[1], 1)
        assert _get(body["url"]) == (200, {"store": "counts", "key": key, "value": expected[key]})
        status, body = _get(f"http://{endpoints[1]}/instances")
        assert status == 200
        assert sorted((i["endpoint"], i["tasks"]) for i in body["instances"]) == sorted(
            (endpoints[p], [f"0_{p}"]) for p in (0, 1))
        status, body = _get(f"http://{endpoints[0]}/stores/nothing/all")
        assert status == 404 and body["stores"] == ["counts"]
        a_app = a.app
    with pytest.raises(StreamsNotStartedError):
        a_app.store("counts")


def test_window_and_global_stores_on_a_running_app(app_factory: AppFactory, streamlog_bootstrap: str,
                                                   streamlog_topic_factory: TopicFactory) -> None:
    clicks = streamlog_topic_factory(partitions=2)
    regions = streamlog_topic_factory(partitions=1)
    produce(streamlog_bootstrap, regions, [(b"eu", b'"Europe"')])
    app = app_factory(store="persistent", query_listen="127.0.0.1:0")
    (app.stream(clicks, key_serde=serdes.STRING, value_serde=serdes.STRING)
        .group_by_key()
        .windowed_by(TimeWindows(size_ms=60_000, grace_ms=60_000))
        .count(name="per-minute"))
    app.global_table(regions, key_serde=serdes.STRING, name="regions")
    for user, times in {"ann": [1_000, 2_000, 61_000], "bob": [5_000]}.items():
        for ts in times:
            produce(streamlog_bootstrap, clicks, [(user.encode(), b"c")], timestamp=ts)
    with running(app) as runner:
        store = app.store("per-minute")
        wait_for(lambda: list(store.fetch("ann", 0, 120_000)) == [(0, 2), (60_000, 1)], 30, "ann's windows")
        assert store.fetch("bob", 0) == 1
        assert [(w.key, w.start, v) for w, v in store.all()] == [
            ("ann", 0, 2), ("ann", 60_000, 1), ("bob", 0, 1)]
        assert app.store("regions").get("eu") == "Europe"
        endpoint = runner.queries.endpoint
        status, body = _get(f"http://{endpoint}/stores/per-minute/keys/ann/windows?from=0&to=59999")
        assert (status, body["windows"]) == (200, [{"start": 0, "end": 60_000, "value": 2}])
        status, body = _get(f"http://{endpoint}/stores/regions/keys/%22eu%22")
        assert status == 404  # a STRING key is given as is: this one is '"eu"'
        assert _get(f"http://{endpoint}/stores/regions/keys/eu") == (
            200, {"store": "regions", "key": "eu", "value": "Europe"})
